//! GroupShare's no-Docker local stack, also the integration tests' harness: tables and bucket
//! created from `template.yaml` on local AWS stand-ins, and every function served on one port.

pub mod authorizer;
pub mod events;
pub mod provision;
pub mod push;
pub mod router;
pub mod seed;
pub mod server;
pub mod stream;
pub mod template;
pub mod wake;
pub mod web;
