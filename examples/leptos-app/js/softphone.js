// The example app's phone: a small shim over JsSIP (loaded before it as the global `JsSIP`),
// called from the Rust app through wasm-bindgen. One user agent per page: register with the
// credentials sipauth provisioned, call another user by name, answer, hang up. Every change is
// reported to the app through the `onchange` callback given to `start` as one of
// "unregistered", "registering", "registered", "registration_failed:<cause>", "calling",
// "ringing", "incoming", "in_call", "ended:<cause>".
(() => {
  let ua = null;
  let session = null;
  let report = () => {};
  const media = { audio: true, video: false };

  function attach(s) {
    session = s;
    // An incoming call's own 180 is progress too: it stays "incoming" until answered.
    s.on('progress', () => { if (s.direction === 'outgoing') report('ringing'); });
    s.on('confirmed', () => report('in_call'));
    s.on('ended', (e) => { session = null; report(`ended:${e.cause}`); });
    s.on('failed', (e) => { session = null; report(`ended:${e.cause}`); });
    s.on('peerconnection', (e) => {
      e.peerconnection.addEventListener('track', (t) => {
        const audio = document.getElementById('remote-audio');
        if (audio && t.streams[0]) audio.srcObject = t.streams[0];
      });
    });
  }

  window.sipauthPhone = {
    // Registers with `config` (a JsSIP UA configuration whose `sockets` are URIs).
    start(config, onchange) {
      this.stop();
      report = onchange || (() => {});
      ua = new JsSIP.UA({
        uri: config.uri,
        password: config.password,
        authorization_user: config.authorization_user,
        display_name: config.display_name,
        realm: config.realm,
        sockets: config.sockets.map((s) => new JsSIP.WebSocketInterface(s)),
        register: true,
        session_timers: false,
      });
      ua.on('registered', () => report('registered'));
      ua.on('unregistered', () => report('unregistered'));
      ua.on('registrationFailed', (e) => report(`registration_failed:${e.cause}`));
      ua.on('newRTCSession', (e) => {
        if (e.originator === 'remote') {
          if (session) { e.session.terminate({ status_code: 486 }); return; }
          attach(e.session);
          report('incoming');
        }
      });
      report('registering');
      ua.start();
    },
    // Calls `target` (a user name in the caller's domain, or a full sip: URI).
    call(target, domain) {
      if (!ua || session) return;
      const uri = target.startsWith('sip:') ? target : `sip:${target}@${domain}`;
      attach(ua.call(uri, { mediaConstraints: media, rtcOfferConstraints: { offerToReceiveAudio: true } }));
      report('calling');
    },
    answer() {
      if (session && session.direction === 'incoming' && !session.isEstablished()) {
        session.answer({ mediaConstraints: media });
      }
    },
    hangup() {
      if (session) session.terminate();
    },
    // Unregisters and stops (signing out).
    stop() {
      if (session) { try { session.terminate(); } catch (_) { /* already gone */ } }
      session = null;
      if (ua) { try { ua.unregister({ all: true }); ua.stop(); } catch (_) { /* already stopped */ } }
      ua = null;
    },
    // RTP packets received and sent in the call so far (from getStats), for the page and tests.
    async stats() {
      const pc = session && session.connection;
      if (!pc) return { received: 0, sent: 0 };
      let received = 0; let sent = 0;
      (await pc.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'audio') received += r.packetsReceived || 0;
        if (r.type === 'outbound-rtp' && r.kind === 'audio') sent += r.packetsSent || 0;
      });
      return { received, sent };
    },
  };
})();
