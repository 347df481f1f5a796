//! A certificate authority of a test's own and a server certificate it signed for 127.0.0.1 and
//! `localhost` (rcgen), written as PEM files: for a SIP server with TLS (Kamailio's `tls`
//! module) that clients trust only through `--ca-file`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// The PEM files of a test CA and a server certificate it signed.
#[derive(Debug, Clone)]
pub struct TestCertificates {
    /// The authority's certificate (what a client trusts).
    pub ca: PathBuf,
    /// The server's certificate.
    pub certificate: PathBuf,
    /// The server's private key (0600).
    pub key: PathBuf,
}

/// Makes a CA and a server certificate for 127.0.0.1 and `localhost` in `dir`.
pub fn server_certificates(dir: &Path) -> Result<TestCertificates, String> {
    let e = |e: rcgen::Error| e.to_string();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sipauth test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(e)?;
    let ca = ca_params.self_signed(&ca_key).map_err(e)?;
    let issuer = Issuer::new(ca_params, &ca_key);
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).map_err(e)?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let key = KeyPair::generate().map_err(e)?;
    let certificate = params.signed_by(&key, &issuer).map_err(e)?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let files = TestCertificates {
        ca: dir.join("ca.pem"),
        certificate: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    let write = |path: &Path, text: &str| std::fs::write(path, text).map_err(|e| e.to_string());
    write(&files.ca, &ca.pem())?;
    write(&files.certificate, &certificate.pem())?;
    write(&files.key, &key.serialize_pem())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
    }
    Ok(files)
}
