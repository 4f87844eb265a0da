//! What a Lambda event meets first: parsing, routing, identity, negotiation and logging.

pub mod events;
pub mod http;
pub mod identity;
pub mod logging;
pub mod negotiate;
pub mod route;
#[cfg(feature = "token")]
pub mod token;
