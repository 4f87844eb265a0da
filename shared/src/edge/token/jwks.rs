//! The issuer's keys: fetched over HTTPS, cached, refetched on an unknown `kid` (rate
//! limited) and kept stale while the issuer is down.

use super::*;

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Key>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
    /// Set when the last refresh failed, cleared by a successful one.
    refresh_failed: bool,
}

/// Verifies tokens against the issuer's keys, which it fetches and caches. One per process
/// (the function keeps it for its lifetime), so the cache lives as long as the environment.
pub struct Verifier {
    config: TokenConfig,
    client: HttpClient,
    cache: tokio::sync::Mutex<Cache>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Also makes the ring-backed RS256/ES256 provider jsonwebtoken's for this process; fails
    /// if another provider was installed first.
    pub fn new(config: TokenConfig) -> Result<Self, ConfigError> {
        check_jwks_url(&config.jwks_url)?;
        ring_provider::install()?;
        Ok(Self {
            client: http_client(),
            cache: tokio::sync::Mutex::new(Cache::default()),
            config,
        })
    }

    pub fn config(&self) -> &TokenConfig {
        &self.config
    }

    /// The caller of a valid token; [`TokenError::Invalid`] for every token that is not one.
    pub async fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenError::Invalid("malformed token"))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(TokenError::Invalid("algorithm not allowed"));
        }
        let kid = header
            .kid
            .filter(|k| !k.is_empty())
            .ok_or(TokenError::Invalid("no kid"))?;
        let key = self.key(&kid).await?;
        verify_with_key(token, &key, &self.config)
    }

    /// The key named `kid`, cached and refetched as the module doc says (TTL, one rate-limited
    /// refetch for an unknown `kid`, stale keys while a refresh fails).
    async fn key(&self, kid: &str) -> Result<Key, TokenError> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        let age = cache.fetched_at.map(|at| now.duration_since(at));
        let fresh = age.is_some_and(|age| age < self.config.jwks_ttl);
        // Stale keys that may still serve while the issuer cannot be reached.
        let usable = age.is_some_and(|age| age < self.config.jwks_ttl + self.config.max_stale);
        let recently = cache
            .last_attempt
            .is_some_and(|at| now.duration_since(at) < self.config.min_refetch_interval);
        if fresh {
            if let Some(key) = cache.keys.get(kid) {
                return Ok(key.clone());
            }
            if recently {
                return Err(TokenError::Invalid("unknown kid"));
            }
        } else if usable && cache.refresh_failed && recently {
            // The issuer failed moments ago: answer from the stale keys without waiting on it
            // (each attempt can take FETCH_TIMEOUT, with every connect queued on this lock).
            return stale_key(&cache, kid);
        }
        cache.last_attempt = Some(now);
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(jwks_url = %self.config.jwks_url, keys = keys.len(), "fetched the issuer's JWKS");
                cache.keys = keys;
                cache.fetched_at = Some(Instant::now());
                cache.refresh_failed = false;
                cache
                    .keys
                    .get(kid)
                    .cloned()
                    .ok_or(TokenError::Invalid("unknown kid"))
            }
            Err(why) if usable => {
                tracing::warn!(jwks_url = %self.config.jwks_url, error = %why, "refreshing the issuer's JWKS failed; verifying with the keys fetched before");
                cache.refresh_failed = true;
                stale_key(&cache, kid)
            }
            Err(why) => {
                tracing::error!(jwks_url = %self.config.jwks_url, error = %why, "fetching the issuer's JWKS failed");
                Err(TokenError::KeysUnavailable(why))
            }
        }
    }

    /// The issuer's keys, through its discovery document when configured so; the whole fetch
    /// (both requests) within [`FETCH_TIMEOUT`].
    async fn fetch(&self) -> Result<HashMap<String, Key>, String> {
        #[derive(Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        let keys = async {
            let mut url = self.config.jwks_url.clone();
            if self.config.discover {
                let doc = self.get(&url).await?;
                let doc: Discovery = serde_json::from_slice(&doc)
                    .map_err(|e| format!("not a discovery document ({url}): {e}"))?;
                // Keys fetched in the clear could be swapped on the way, wherever they are.
                check_jwks_url(&doc.jwks_uri).map_err(|e| e.0)?;
                url = doc.jwks_uri;
            }
            parse_jwks(&self.get(&url).await?)
        };
        tokio::time::timeout(FETCH_TIMEOUT, keys)
            .await
            .map_err(|_| format!("no answer within {} s", FETCH_TIMEOUT.as_secs()))?
    }

    /// The body of a `200` answer to a GET of `url`, up to [`MAX_JWKS_BYTES`].
    async fn get(&self, url: &str) -> Result<Bytes, String> {
        let request = hyper::Request::get(url)
            .header(hyper::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("request to {url} failed: {e}"))?;
        if response.status() != hyper::StatusCode::OK {
            return Err(format!("{url} answered {}", response.status()));
        }
        Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| format!("reading {url} failed: {e}"))
    }
}

/// A key from keys that could not be refreshed. A `kid` they lack may be a key the issuer
/// added since, which only the refresh that failed could tell: that is no verdict on the token.
fn stale_key(cache: &Cache, kid: &str) -> Result<Key, TokenError> {
    cache
        .keys
        .get(kid)
        .cloned()
        .ok_or_else(|| TokenError::KeysUnavailable("the kid is not in the stale keys".into()))
}

/// HTTP/1.1 over hyper + rustls with ring, the parts the SDK's client is built on (shared::infra::aws).
/// Roots: the issuer can be any identity provider, so not the pinned Amazon roots the SDK
/// uses but Mozilla's set (`webpki-roots`), compiled in: no CA bundle read from disk at cold
/// start and no dependence on the runtime image's. `GROUPSHARE_SYSTEM_TLS_ROOTS` (as for the
/// SDK) switches to the system's roots, for an egress proxy that re-signs TLS.
fn http_client() -> HttpClient {
    let mut roots = rustls::RootCertStore::empty();
    if std::env::var_os(crate::infra::aws::SYSTEM_TLS_ROOTS_VAR).is_some() {
        let (added, _ignored) =
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if added == 0 {
            tracing::warn!("no system TLS roots found; trusting the compiled-in ones only");
        }
    }
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(FETCH_TIMEOUT));
    // Plain http only reaches the connector for loopback URLs (check_jwks_url).
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new()).build(https)
}
