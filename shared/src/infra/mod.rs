//! DynamoDB, S3, SQS and API Gateway: the storage layout and the clients behind it.

pub mod aws;
pub mod blob;
pub mod jobs;
pub mod push;
mod sdk_error;
pub mod store;
