//! Types and rules with no I/O, used by every layer.

pub mod caller;
pub mod checksum;
pub mod cursor;
pub mod disposition;
pub mod error;
pub mod ids;
pub mod model;
pub mod search;
pub mod text;
pub mod time;
