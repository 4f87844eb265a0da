//! GroupShare's shared crate: everything the Lambda functions have in common, in four layers
//! whose arrows point one way: `edge` → `api` → `infra` → `domain` (and every layer may use
//! `domain`, the root's [`App`] and [`config`]).
//!
//! * [`edge`]: what a Lambda event meets first: HTTP parsing and answers, the route table, the
//!   caller's identity, content negotiation, logging, the non-HTTP event runner, and (feature
//!   `token`) JWT verification for the WebSocket authorizer.
//! * [`api`]: the operations a caller can ask for, with membership checks built in.
//! * [`infra`]: DynamoDB layout and access ([`infra::store`], the one place that knows table
//!   names, keys and attributes), S3 ([`infra::blob`]), the SDK's configuration, the preview
//!   queue and push fan-out.
//! * [`domain`]: the types and rules with no I/O: model, ids, cursors, text, time, file names
//!   in headers, and the JSON error contract.
//!
//! Functions build an [`App`] once at cold start and hand it to their handler.

pub mod api;
pub mod config;
pub mod domain;
pub mod edge;
pub mod infra;

pub use config::Config;
pub use domain::error::{ApiError, ErrorCode};

/// Everything a handler needs, built once per Lambda execution environment.
#[derive(Clone, Debug)]
pub struct App {
    pub config: Config,
    pub store: infra::store::Store,
    pub blobs: infra::blob::Blobs,
}

impl App {
    /// Reads configuration and AWS settings from the environment and builds the SDK clients.
    pub async fn from_env() -> Result<Self, config::ConfigError> {
        let config = Config::from_env()?;
        let sdk = infra::aws::load_sdk_config()?;
        Ok(Self::new(config, &sdk))
    }

    pub fn new(config: Config, sdk: &infra::aws::SdkConfig) -> Self {
        let store =
            infra::store::Store::new(infra::aws::dynamodb_client(sdk), config.tables.clone());
        let blobs = infra::blob::Blobs::from_sdk(sdk, &config);
        Self {
            config,
            store,
            blobs,
        }
    }
}
