//! [`AppState`]: everything a request needs, shared by every area; cheap to clone. Each area
//! reads the parts it owns (the provisioner, the token check, the web page's records, the
//! development provider) and nothing else.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::TokenCheck;
use crate::limits::RateLimits;
use crate::metrics::Metrics;
use crate::network::NetworkPolicy;

/// Everything a request needs; one reference count to clone (every request clones it a few
/// times on its way through the middleware and the handler). Reads go through to
/// [`SharedState`]; the `with_*` builders change it before the service starts.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut SharedState {
        Arc::make_mut(&mut self.0)
    }
}

/// What [`AppState`] holds.
#[derive(Clone)]
pub struct SharedState {
    /// Accounts, passwords, the SIP server.
    pub provisioner: Arc<sipauth_provision::Provisioner>,
    /// How bearer tokens are verified.
    pub tokens: Arc<TokenCheck>,
    /// Where requests may come from.
    pub network: Arc<NetworkPolicy>,
    /// Rate limits.
    pub limits: Arc<RateLimits>,
    /// What `/metrics` reports.
    pub metrics: Arc<Metrics>,
    /// How long a request may take.
    pub request_timeout: Duration,
    /// The web sign-in page, when configured.
    pub web: Option<Arc<crate::web::Web>>,
    /// The back-channel logout endpoint, when the web page has a client at an issuer.
    pub backchannel: Option<Arc<crate::backchannel::Backchannel>>,
    /// The SCIM service provider, when an issuer has a SCIM secret.
    pub scim: Option<Arc<crate::scim::Scim>>,
    /// The development identity provider (`--dev` only).
    #[cfg(feature = "dev-idp")]
    pub dev_idp: Option<Arc<crate::dev_idp::DevIdp>>,
    /// Which other origins' pages may call the API.
    pub cors: Arc<crate::cors::Cors>,
    /// A single-page app served beside the API (`static_dir`).
    pub static_dir: Option<Arc<std::path::Path>>,
    /// The service's clock.
    pub clock: sipauth::SharedClock,
}

impl AppState {
    /// A state with no network restrictions, no rate limits and a 15 s request timeout.
    pub fn new(provisioner: Arc<sipauth_provision::Provisioner>, tokens: Arc<TokenCheck>) -> Self {
        Self(Arc::new(SharedState {
            provisioner,
            tokens,
            network: Arc::new(NetworkPolicy::default()),
            limits: Arc::new(RateLimits::default()),
            metrics: Arc::new(Metrics::new()),
            request_timeout: Duration::from_secs(15),
            web: None,
            scim: None,
            backchannel: None,
            #[cfg(feature = "dev-idp")]
            dev_idp: None,
            cors: Arc::new(crate::cors::Cors::default()),
            static_dir: None,
            clock: Arc::new(sipauth::SystemClock),
        }))
    }

    /// With the origins whose pages may call the API.
    pub fn with_cors(mut self, cors: crate::cors::Cors) -> Self {
        self.cors = Arc::new(cors);
        self
    }

    /// With a single-page app served from `dir` (its `index.html` for unknown paths outside
    /// the service's own).
    pub fn with_static_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.static_dir = Some(Arc::from(dir.as_path()));
        self
    }

    /// With the web sign-in page.
    pub fn with_web(mut self, web: crate::web::Web) -> Self {
        self.web = Some(Arc::new(web));
        self
    }

    /// With the back-channel logout endpoint at `/backchannel-logout`.
    pub fn with_backchannel(mut self, backchannel: crate::backchannel::Backchannel) -> Self {
        self.backchannel = Some(Arc::new(backchannel));
        self
    }

    /// With the SCIM service provider at `/scim/v2`.
    pub fn with_scim(mut self, scim: crate::scim::Scim) -> Self {
        self.scim = Some(Arc::new(scim));
        self
    }

    /// With the development identity provider at `/dev-idp`.
    #[cfg(feature = "dev-idp")]
    pub fn with_dev_idp(mut self, idp: Arc<crate::dev_idp::DevIdp>) -> Self {
        self.dev_idp = Some(idp);
        self
    }

    /// With a clock.
    pub fn with_clock(mut self, clock: sipauth::SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// With allowed networks and trusted proxies.
    pub fn with_network(mut self, network: NetworkPolicy) -> Self {
        self.network = Arc::new(network);
        self
    }

    /// With rate limits.
    pub fn with_limits(mut self, limits: RateLimits) -> Self {
        self.limits = Arc::new(limits);
        self
    }

    /// With a request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}
