//! [`Metrics`]: what `/metrics` tells Prometheus (text exposition format, prometheus-client):
//! requests by route, method and status; request latency by route; token verification failures
//! by reason (the library's stable codes); JWKS fetches by issuer (read from the key caches at
//! scrape time); provisions by outcome. Labels are bounded: routes are the router's templates
//! (unmatched paths are one label), reasons are codes, never token text.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::auth::TokenCheck;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuerLabels {
    issuer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The service's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    verification_failures: Family<ReasonLabels, Counter>,
    jwks_fetches: Family<IssuerLabels, Counter>,
    provisions: Family<OutcomeLabels, Counter>,
    lifecycle: Family<EventLabels, Counter>,
    kamailio_rpc_failures: Counter,
    account_cache_hits: Counter,
    account_cache_misses: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sipauth");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let verification_failures = Family::<ReasonLabels, Counter>::default();
        let jwks_fetches = Family::<IssuerLabels, Counter>::default();
        let provisions = Family::<OutcomeLabels, Counter>::default();
        let lifecycle = Family::<EventLabels, Counter>::default();
        let kamailio_rpc_failures = Counter::default();
        let account_cache_hits = Counter::default();
        let account_cache_misses = Counter::default();
        registry.register(
            "account_cache_hits",
            "Provisions of unchanged accounts answered from the account cache",
            account_cache_hits.clone(),
        );
        registry.register(
            "account_cache_misses",
            "Provisions of accounts the account cache did not hold (read from the database)",
            account_cache_misses.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "token_verification_failures",
            "Bearer tokens refused, by reason",
            verification_failures.clone(),
        );
        registry.register(
            "jwks_fetches",
            "JWKS documents fetched, by issuer",
            jwks_fetches.clone(),
        );
        registry.register(
            "provisions",
            "Provisioning requests by outcome",
            provisions.clone(),
        );
        registry.register(
            "lifecycle_events",
            "Changes the identity provider made to SIP access, by event",
            lifecycle.clone(),
        );
        registry.register(
            "kamailio_rpc_failures",
            "Kamailio nodes that could not be told to forget a person's contacts (after retries)",
            kamailio_rpc_failures.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            lifecycle,
            kamailio_rpc_failures,
            account_cache_hits,
            account_cache_misses,
            requests,
            latency,
            verification_failures,
            jwks_fetches,
            provisions,
        }
    }

    /// One answered request.
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method: method.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// One refused token.
    pub fn verification_failure(&self, reason: &str) {
        self.verification_failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// One provision, by outcome code (`ok`, `access_denied`, ...).
    pub fn provision(&self, outcome: &str) {
        self.provisions
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The text exposition, with JWKS fetch counts read from `tokens`' key caches, and the
    /// provisioner's lifecycle events and Kamailio nodes that could not be told.
    pub async fn render(
        &self,
        tokens: &TokenCheck,
        provisioner: &sipauth_provision::Provisioner,
    ) -> String {
        let failures = provisioner.kamailio_rpc_failures();
        let seen = self.kamailio_rpc_failures.get();
        if failures > seen {
            self.kamailio_rpc_failures.inc_by(failures - seen);
        }
        let (hits, misses) = provisioner.account_cache_counts();
        for (counter, total) in [
            (&self.account_cache_hits, hits),
            (&self.account_cache_misses, misses),
        ] {
            let seen = counter.get();
            if total > seen {
                counter.inc_by(total - seen);
            }
        }
        for (event, total) in provisioner.lifecycle_counts() {
            let counter = self.lifecycle.get_or_create(&EventLabels { event });
            let seen = counter.get();
            if total > seen {
                counter.inc_by(total - seen);
            }
        }
        for issuer in &tokens.issuers {
            if let Some(jwks) = issuer.verifier.jwks() {
                let total = jwks.fetch_count().await;
                let counter = self.jwks_fetches.get_or_create(&IssuerLabels {
                    issuer: issuer.verifier.issuer().as_str().to_string(),
                });
                let seen = counter.get();
                if total > seen {
                    counter.inc_by(total - seen);
                }
            }
        }
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = encode(&mut out, &registry);
        }
        out
    }
}
