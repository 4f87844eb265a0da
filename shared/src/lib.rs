//! GroupShare's shared crate: everything the Lambda functions have in common.
//!
//! * [`model`]: the domain types (conversations, members, messages, files) and their JSON shape.
//! * [`store`]: the one place that knows DynamoDB table names, keys and attribute names.
//! * [`blob`]: S3 object keys, presigned downloads/uploads and object checks.
//! * [`api`]: the operations a caller can ask for, with membership checks built in.
//! * [`http`], [`identity`], [`route`], [`error`]: request parsing, the caller's identity, the
//!   route table and the JSON error contract shared by every handler.
//! * [`token`] (feature `token`): JWT verification against an issuer's JWKS, for the WebSocket
//!   API's authorizer, where no API Gateway JWT authorizer exists.
//!
//! Functions build an [`App`] once at cold start and hand it to their handler.

pub mod api;
pub mod aws;
pub mod blob;
pub mod config;
pub mod cursor;
pub mod disposition;
pub mod error;
pub mod events;
pub mod http;
pub mod identity;
pub mod ids;
pub mod jobs;
pub mod logging;
pub mod model;
pub mod negotiate;
pub mod push;
pub mod route;
pub mod store;
pub mod text;
pub mod time;
#[cfg(feature = "token")]
pub mod token;

pub use config::Config;
pub use error::{ApiError, ErrorCode};

/// Everything a handler needs, built once per Lambda execution environment.
#[derive(Clone, Debug)]
pub struct App {
    pub config: Config,
    pub store: store::Store,
    pub blobs: blob::Blobs,
}

impl App {
    /// Reads configuration and AWS settings from the environment and builds the SDK clients.
    pub async fn from_env() -> Result<Self, config::ConfigError> {
        let config = Config::from_env()?;
        let sdk = aws::load_sdk_config()?;
        Ok(Self::new(config, &sdk))
    }

    pub fn new(config: Config, sdk: &aws::SdkConfig) -> Self {
        let store = store::Store::new(aws::dynamodb_client(sdk), config.tables.clone());
        let blobs = blob::Blobs::from_sdk(sdk, &config);
        Self {
            config,
            store,
            blobs,
        }
    }
}
