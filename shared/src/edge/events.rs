//! The `main` of an event-driven (non-HTTP) function: the same once-per-environment setup as
//! `http::run`, then `handler` for every event. A handler's error fails the invocation, so
//! Lambda retries it (and, past its retries, sends it to the function's on-failure target).

use std::future::Future;
use std::time::Instant;

use lambda_http::lambda_runtime::{self, service_fn, LambdaEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::ConfigError;
use crate::infra::aws;
use crate::{ApiError, App, Config};

pub async fn run<E, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    E: DeserializeOwned + Send + 'static,
    F: Fn(&'static App, E) -> Fut,
    Fut: Future<Output = Result<(), ApiError>> + Send,
{
    run_with(|_, _| Ok(()), move |app, _, event, _| handler(app, event)).await
}

/// [`run`] for a function that needs more than the [`App`] (a client of another service, made
/// by `setup` from the same SDK configuration, once), answers each event with a value, or is
/// told when the invocation times out (Lambda's deadline, as an [`Instant`] of this process).
pub async fn run_with<S, E, R, F, Fut>(
    setup: impl FnOnce(&App, &aws::SdkConfig) -> Result<S, ConfigError>,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    S: Send + Sync + 'static,
    E: DeserializeOwned + Send + 'static,
    R: Serialize,
    F: Fn(&'static App, &'static S, E, Instant) -> Fut,
    Fut: Future<Output = Result<R, ApiError>> + Send,
{
    crate::edge::logging::init();
    let config = Config::from_env()?;
    let sdk = aws::load_sdk_config()?;
    // Both live as long as the process, as in `http::run`.
    let app: &'static App = Box::leak(Box::new(App::new(config, &sdk)));
    let extra: &'static S = Box::leak(Box::new(setup(app, &sdk)?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| {
        // Lambda's deadline (milliseconds since the epoch) on this process's monotonic clock.
        let deadline = Instant::now() + crate::domain::time::until(event.context.deadline);
        let done = erased(handler(app, extra, event.payload, deadline));
        async move { done.await.map_err(lambda_runtime::Error::from) }
    }))
    .await
}

/// A handler's future behind a pointer to `dyn Future`: the runtime's futures then hold a
/// pointer, not the whole storage path's nested state machines, which would otherwise take
/// `main`'s future past rustc's type-layout depth (128). One allocation per invocation.
pub(crate) fn erased<'a, T>(
    future: impl Future<Output = T> + Send + 'a,
) -> std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>> {
    Box::pin(future)
}
