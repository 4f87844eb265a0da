//! Test harness: every test gets its own tables (named from a unique prefix) and bucket on the
//! local AWS stand-ins that `scripts/test` starts, driven through the real SDK clients.

pub mod client;
pub mod local_stack;
pub mod push;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

use aws_credential_types::Credentials;
use lambda_http::http::Method;
use lambda_http::{Body, Request};
use serde_json::Value;
use shared::config::Config;
use shared::domain::model::Role;
use shared::App;

pub use client::{client, upload_body, ApiFailure, Client, Query, Reply, Response};
pub use groupshare_local::router::dispatch;
pub use shared::api::uploads::UploadForm;
pub use shared::ErrorCode;

/// Local stand-in endpoint for DynamoDB and S3 (moto server), set by `scripts/test`.
pub const ENDPOINT_VAR: &str = "GROUPSHARE_TEST_ENDPOINT";
/// A second S3 that verifies SigV4, expiry and POST policies (s3s-fs), set by `scripts/test`.
pub const STRICT_S3_VAR: &str = "GROUPSHARE_TEST_STRICT_S3_ENDPOINT";
pub const STRICT_S3_KEY: &str = "groupshare-test";
pub const STRICT_S3_SECRET: &str = "groupshare-test-secret";

pub fn endpoint(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests with `scripts/test`, which starts the local AWS stand-ins")
    })
}

/// A process-unique, run-unique name prefix.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct Options {
    pub s3_endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub download_ttl_secs: u64,
    /// Lifetime of upload forms and part URLs.
    pub upload_ttl_secs: u64,
    pub max_upload_bytes: u64,
    /// Larger files are uploaded in parts of `part_size_bytes` (S3's minimum is 5 MiB).
    pub multipart_threshold_bytes: u64,
    pub part_size_bytes: u64,
    pub retention_days: u32,
    pub recall_window_secs: u64,
    pub max_connections_per_user: usize,
    /// Counts the DynamoDB calls the app makes.
    pub dynamodb_calls: Option<CallCounter>,
    /// Runs a competing write just before the app's next transaction is sent.
    pub before_transaction: Option<BeforeTransaction>,
    /// The app's clock: a test moves it (`Clock::shift`) instead of sleeping.
    pub clock: shared::domain::time::Clock,
    /// Raised after the app's writes to the streamed tables, as on the local stack (what its
    /// stream pumps wait on).
    pub streams_written: Option<groupshare_local::wake::StreamWrites>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            s3_endpoint: endpoint(ENDPOINT_VAR),
            access_key: "test".into(),
            secret_key: "test".into(),
            download_ttl_secs: 300,
            upload_ttl_secs: 900,
            max_upload_bytes: 2 * 1024 * 1024 * 1024,
            multipart_threshold_bytes: 64 * 1024 * 1024,
            part_size_bytes: 16 * 1024 * 1024,
            retention_days: 7,
            recall_window_secs: 120,
            max_connections_per_user: 10,
            dynamodb_calls: None,
            before_transaction: None,
            clock: shared::domain::time::Clock::default(),
            streams_written: None,
        }
    }
}

/// A fresh GroupShare on the stand-ins: tables from template.yaml, a bucket, the real App.
pub async fn stack() -> &'static App {
    stack_with(Options::default()).await
}

/// A fresh stack whose DynamoDB calls the returned counter counts.
pub async fn counted_stack() -> (&'static App, CallCounter) {
    let counter = CallCounter::default();
    let app = stack_with(Options {
        dynamodb_calls: Some(counter.clone()),
        ..Options::default()
    })
    .await;
    (app, counter)
}

/// A fresh stack whose next chosen call a test can precede with a competing write.
pub async fn raced_stack() -> (&'static App, BeforeTransaction) {
    let hook = BeforeTransaction::default();
    let app = stack_with(Options {
        before_transaction: Some(hook.clone()),
        ..Options::default()
    })
    .await;
    (app, hook)
}

pub async fn stack_with(opts: Options) -> &'static App {
    let ddb_endpoint = endpoint(ENDPOINT_VAR);
    let prefix = unique("gs");
    let ddb_sdk = sdk_config(&ddb_endpoint, "test", "test");
    let s3_sdk = sdk_config(&opts.s3_endpoint, &opts.access_key, &opts.secret_key);

    let specs =
        groupshare_local::template::table_specs(&groupshare_local::template::workspace_template())
            .unwrap();
    let ddb = match (&opts.dynamodb_calls, &opts.before_transaction) {
        (None, None) => shared::infra::aws::dynamodb_client(&ddb_sdk),
        (counter, hook) => {
            let mut config = aws_sdk_dynamodb::config::Builder::from(&ddb_sdk);
            if let Some(counter) = counter {
                config = config.interceptor(counter.clone());
            }
            if let Some(hook) = hook {
                config = config.interceptor(hook.clone());
            }
            aws_sdk_dynamodb::Client::from_conf(config.build())
        }
    };
    let tables = groupshare_local::provision::create_tables(&ddb, &specs, &prefix)
        .await
        .unwrap();
    let ddb = match &opts.streams_written {
        None => ddb,
        Some(written) => {
            let writes = written.interceptor(&tables);
            aws_sdk_dynamodb::Client::from_conf(
                ddb.config().to_builder().interceptor(writes).build(),
            )
        }
    };
    let bucket = prefix.to_lowercase().replace('_', "-");
    let s3 = shared::infra::aws::s3_client(&s3_sdk, true);
    groupshare_local::provision::ensure_bucket(&s3, &bucket)
        .await
        .unwrap();

    let config = Config {
        tables: tables.clone(),
        bucket: Some(bucket),
        download_url_ttl: std::time::Duration::from_secs(opts.download_ttl_secs),
        upload_url_ttl: std::time::Duration::from_secs(opts.upload_ttl_secs),
        max_upload_bytes: opts.max_upload_bytes,
        multipart_threshold_bytes: opts.multipart_threshold_bytes,
        part_size_bytes: opts.part_size_bytes,
        retention_days: opts.retention_days,
        recall_window_secs: opts.recall_window_secs,
        s3_force_path_style: true,
        s3_endpoint: Some(opts.s3_endpoint),
        web_client_url: Some("https://chat.example.test".into()),
        max_connections_per_user: opts.max_connections_per_user,
        clock: opts.clock.clone(),
    };
    let app = App {
        store: shared::infra::store::Store::new(ddb, tables),
        blobs: shared::infra::blob::Blobs::new(s3, s3_sdk.credentials_provider(), &config),
        config,
    };
    Box::leak(Box::new(app))
}

/// The SDK configuration for a stand-in at `endpoint` with these credentials.
pub fn sdk_config(endpoint: &str, key: &str, secret: &str) -> shared::infra::aws::SdkConfig {
    sdk_config_with(
        endpoint,
        Credentials::new(key, secret, None, None, "test"),
        |c| c,
    )
}

/// The same with these credentials and any other settings (retries, say).
pub fn sdk_config_with(
    endpoint: &str,
    credentials: impl aws_credential_types::provider::ProvideCredentials + 'static,
    more: impl FnOnce(aws_types::sdk_config::Builder) -> aws_types::sdk_config::Builder,
) -> shared::infra::aws::SdkConfig {
    more(
        shared::infra::aws::sdk_config_builder(false)
            .region(aws_types::region::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            ),
    )
    .build()
}

/// An API request as a device sends it, naming the caller with the local stack's `X-Dev-User`
/// shorthand: [`dispatch`] runs the local JWT authorizer, which maps it to the claims the
/// functions read (they never see the header as an identity).
pub fn request(method: &str, path: &str, user: Option<&str>, body: Option<Value>) -> Request {
    let mut b = lambda_http::http::Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(format!("https://api.example.test{path}"));
    if let Some(u) = user {
        b = b.header("x-dev-user", u);
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    b.body(body.map_or(Body::Empty, |v| Body::Text(v.to_string())))
        .unwrap()
}

/// Sends `req` (raw: any method, path, header or body) through the same authorizer and
/// routing API Gateway does, to the function's handler.
pub async fn call(app: &App, req: Request) -> Reply {
    let response = Box::pin(dispatch(app, req)).await;
    let bytes: &[u8] = response.body().as_ref();
    Reply::read(
        response.status().as_u16(),
        response.headers().clone(),
        bytes,
    )
}

/// Creates a group through the API; `owner` owns it, `members` join.
pub async fn create_group(app: &App, owner: &str, members: &[&str]) -> String {
    let created = client(app, owner)
        .create_conversation("Team", members)
        .await;
    created.created().conversation_id
}

/// Stores a group as an older release left it, bypassing the API: no member count, no last
/// activity, no digest of its create request's terms, and member items without the attributes
/// kept since (`manages_since`, `joined_seq`). `members` all joined at `at_ms`, the first one
/// created it. Returns its id.
pub async fn legacy_group(app: &App, at_ms: i64, members: &[(&str, Role)]) -> String {
    let cid = shared::domain::ids::new_id();
    legacy_group_named(app, &cid, at_ms, members).await;
    cid
}

/// [`legacy_group`] under the id `cid`.
pub async fn legacy_group_named(app: &App, cid: &str, at_ms: i64, members: &[(&str, Role)]) {
    use shared::domain::model::{Conversation, Member, Message, SystemEvent, SystemEventKind};
    use shared::infra::store::Created;
    let cid = cid.to_string();
    let creator = members[0].0;
    let conversation = Conversation {
        conversation_id: cid.clone(),
        title: "Old".into(),
        created_by: creator.into(),
        created_at_ms: at_ms,
        last_seq: 1,
        member_count: None,
        last_activity_ms: None,
        last_message: None,
        created_for: None,
    };
    let members: Vec<Member> = members
        .iter()
        .map(|(u, role)| Member {
            conversation_id: cid.clone(),
            user_id: u.to_string(),
            role: *role,
            joined_at_ms: at_ms,
            joined_seq: 0,
            read_seq: 0,
            manages_since_ms: None,
            acted: false,
        })
        .collect();
    let created = SystemEvent::new(SystemEventKind::ConversationCreated, creator);
    let first = Message::system(&cid, 1, "m1", creator, at_ms, created);
    let stored = app
        .store
        .create_conversation(&conversation, &members, &first);
    assert_eq!(stored.await.unwrap(), Created::Now);
}

/// Posts a text message through the API and returns its seq.
pub async fn send_text(app: &App, cid: &str, user: &str, text: &str) -> u64 {
    let sent = client(app, user)
        .post_message(cid, &unique("m"), text)
        .await;
    sent.created().seq
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A POST form, or a create-upload ticket's (which has one for files under the multipart
/// threshold).
pub trait FormRef {
    fn form(&self) -> &UploadForm;
}

impl FormRef for UploadForm {
    fn form(&self) -> &UploadForm {
        self
    }
}

impl FormRef for Option<UploadForm> {
    fn form(&self) -> &UploadForm {
        self.as_ref()
            .expect("a POST form (the file is under the multipart threshold)")
    }
}

/// Sends the presigned POST form a create-upload call returned, with `bytes` as the file.
pub async fn post_form(upload: &impl FormRef, bytes: Vec<u8>) -> reqwest::Response {
    let upload = upload.form();
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in &upload.fields {
        form = form.text(k.clone(), v.clone());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("upload.bin"),
    );
    reqwest::Client::new()
        .post(&upload.url)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// The whole upload flow through the API and S3: create, POST the bytes, complete.
/// Returns the file id.
pub async fn upload(
    app: &App,
    cid: &str,
    user: &str,
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> String {
    let api = client(app, user);
    let sha256 = sha256_hex(bytes);
    let body = upload_body(&unique("u"), name, bytes.len(), content_type, Some(&sha256));
    let ticket = api.create_upload(cid, body).await.created();
    let sent = post_form(&ticket.upload, bytes.to_vec()).await;
    assert!(
        sent.status().is_success(),
        "upload refused: {}",
        sent.text().await.unwrap()
    );
    api.complete_upload(cid, &ticket.file_id).await.created();
    ticket.file_id
}

/// A plain HTTP client that does not follow redirects (to look at the 302 itself).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Counts storage round trips, and how many were in flight at once (proof that lookups run
/// concurrently, without measuring time).
#[derive(Clone, Debug, Default)]
pub struct CallCounter(Arc<CallCounts>);

#[derive(Debug, Default)]
pub struct CallCounts {
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    total: AtomicUsize,
    /// Items that Queries and Scans read (their `ScannedCount`), what they cost.
    scanned: AtomicUsize,
    calls: std::sync::Mutex<Vec<Call>>,
}

/// One DynamoDB call as sent: its operation and how many items it names (keys read, parts of
/// a transaction; 1 for single-item calls, 0 for queries, whose reads depend on the data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub operation: String,
    pub items: usize,
}

impl CallCounter {
    pub fn reset(&self) {
        self.0.max_in_flight.store(0, Ordering::SeqCst);
        self.0.total.store(0, Ordering::SeqCst);
        self.0.scanned.store(0, Ordering::SeqCst);
        self.0.calls.lock().unwrap().clear();
    }
    /// (calls, most in flight at once) since the last reset.
    pub fn read(&self) -> (usize, usize) {
        (
            self.0.total.load(Ordering::SeqCst),
            self.0.max_in_flight.load(Ordering::SeqCst),
        )
    }
    /// Calls sent and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::SeqCst)
    }
    /// Items read by Queries (and Scans) since the last reset: matches and misses alike.
    pub fn items_scanned(&self) -> usize {
        self.0.scanned.load(Ordering::SeqCst)
    }
    /// Every call since the last reset, in the order they were sent.
    pub fn calls(&self) -> Vec<Call> {
        self.0.calls.lock().unwrap().clone()
    }
}

/// The operation a DynamoDB request calls (`x-amz-target: DynamoDB_20120810.GetItem`).
pub fn operation_of(request: &aws_sdk_dynamodb::config::http::HttpRequest) -> &str {
    if let Some(target) = request.headers().get("x-amz-target") {
        return target.rsplit('.').next().unwrap_or("");
    }
    // S3 names no operation; the one a race test waits for is told by its copy source.
    let copies = request.headers().contains_key("x-amz-copy-source");
    if copies && request.uri().contains("uploadId=") {
        "UploadPartCopy"
    } else {
        ""
    }
}

/// An interceptor that may rewrite each DynamoDB request before it is signed (`.1`): a test's
/// way to play what the stand-in never does, named `.0` in the SDK's errors.
#[derive(Clone)]
pub struct Rewrite<F>(pub &'static str, pub F);

impl<F> std::fmt::Debug for Rewrite<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl<F> Intercept for Rewrite<F>
where
    F: Fn(&mut aws_sdk_dynamodb::config::http::HttpRequest) -> Result<(), BoxError>
        + Send
        + Sync
        + 'static,
{
    fn name(&self) -> &'static str {
        self.0
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        (self.1)(context.request_mut())
    }
}

/// Sends `body` (JSON) instead of what the request carried, for an interceptor that plays an
/// answer the stand-in never gives.
pub fn replace_json_body(request: &mut aws_sdk_dynamodb::config::http::HttpRequest, body: String) {
    request
        .headers_mut()
        .insert("content-length", body.len().to_string());
    *request.body_mut() = aws_smithy_types::body::SdkBody::from(body);
}

/// How many items a request names (see [`Call`]).
fn items_named(operation: &str, body: &[u8]) -> usize {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match operation {
        "BatchGetItem" => json["RequestItems"].as_object().map_or(0, |tables| {
            tables
                .values()
                .map(|t| t["Keys"].as_array().map_or(0, Vec::len))
                .sum()
        }),
        "TransactWriteItems" => json["TransactItems"].as_array().map_or(0, Vec::len),
        "Query" | "Scan" => 0,
        _ => 1,
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let now = self.0.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.0.total.fetch_add(1, Ordering::SeqCst);
        let request = context.request();
        let operation = operation_of(request).to_string();
        let items = items_named(&operation, request.body().bytes().unwrap_or_default());
        self.0.calls.lock().unwrap().push(Call { operation, items });
        Ok(())
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let _ = context;
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::AfterDeserializationInterceptorContextRef<
            '_,
        >,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::query::QueryOutput;
        if let Ok(out) = context.output_or_error() {
            if let Some(q) = out.downcast_ref::<QueryOutput>() {
                self.0
                    .scanned
                    .fetch_add(q.scanned_count().max(0) as usize, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

/// A log sink for a test's subscriber: what the functions wrote, read back as text.
#[derive(Clone, Default)]
pub struct CapturedLog(Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLog {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Forces the interleaving a race test is about: armed with a competing write, it runs that
/// write to its end just before the app's next `TransactWriteItems` is sent, after every read
/// the app made to decide. So the transaction's own conditions, and nothing else, must catch
/// what changed (removing one makes its test fail every time, not now and then).
/// [`BeforeTransaction::arm_before`] picks another call instead (a conditional `UpdateItem`, or
/// the read of one table among several).
#[derive(Clone, Default)]
pub struct BeforeTransaction(Arc<std::sync::Mutex<Option<Armed>>>);

type CompetingWrite = Box<dyn FnOnce() + Send>;

struct Armed {
    operation: &'static str,
    /// Only a request whose body contains this (a table's name, say).
    naming: Option<String>,
    write: CompetingWrite,
}

impl std::fmt::Debug for BeforeTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BeforeTransaction")
    }
}

impl BeforeTransaction {
    pub fn arm(&self, competing_write: impl FnOnce() + Send + 'static) {
        self.arm_before("TransactWriteItems", None, competing_write);
    }

    /// Runs `competing_write` just before the app's next `operation` call (whose body
    /// contains `naming`, when given).
    pub fn arm_before(
        &self,
        operation: &'static str,
        naming: Option<&str>,
        competing_write: impl FnOnce() + Send + 'static,
    ) {
        *self.0.lock().unwrap() = Some(Armed {
            operation,
            naming: naming.map(str::to_string),
            write: Box::new(competing_write),
        });
    }

    /// Whether the armed write ran (the app did send a transaction).
    pub fn fired(&self) -> bool {
        self.0.lock().unwrap().is_none()
    }
}

impl Intercept for BeforeTransaction {
    fn name(&self) -> &'static str {
        "BeforeTransaction"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let body = request.body().bytes().unwrap_or_default();
        let due = {
            let mut armed = self.0.lock().unwrap();
            let due = armed.as_ref().is_some_and(|a| {
                operation_of(request) == a.operation
                    && a.naming
                        .as_ref()
                        .is_none_or(|n| String::from_utf8_lossy(body).contains(n.as_str()))
            });
            if due {
                armed.take()
            } else {
                None
            }
        };
        if let Some(armed) = due {
            (armed.write)();
        }
        Ok(())
    }
}

/// The same deployment as `app`, whose DynamoDB calls also go through `interceptor` (an answer
/// the stand-in never gives, played: a conflict, a lagging replica, a failed read).
pub fn intercepted(app: &App, interceptor: impl Intercept + 'static) -> &'static App {
    let sdk = sdk_config(&endpoint(ENDPOINT_VAR), "test", "test");
    let ddb = shared::infra::aws::dynamodb_client(&sdk);
    let config = ddb.config().to_builder().interceptor(interceptor).build();
    Box::leak(Box::new(App {
        store: shared::infra::store::Store::new(
            aws_sdk_dynamodb::Client::from_conf(config),
            app.config.tables.clone(),
        ),
        blobs: app.blobs.clone(),
        config: app.config.clone(),
    }))
}

/// The same deployment as `app`, whose S3 calls also go through `interceptor`.
pub fn s3_intercepted(app: &App, interceptor: impl Intercept + 'static) -> &'static App {
    let endpoint = app.config.s3_endpoint.as_deref().expect("the stand-in's");
    let sdk = sdk_config(endpoint, "test", "test");
    let s3 = shared::infra::aws::s3_client(&sdk, true);
    let s3 =
        aws_sdk_s3::Client::from_conf(s3.config().to_builder().interceptor(interceptor).build());
    Box::leak(Box::new(App {
        store: app.store.clone(),
        blobs: shared::infra::blob::Blobs::new(s3, sdk.credentials_provider(), &app.config),
        config: app.config.clone(),
    }))
}

/// Runs `work` to its end on a thread of its own, with its own runtime and DynamoDB client over
/// the same tables: another device's request, while the caller's thread waits for it.
pub fn on_another_device<F, Fut>(app: &App, work: F)
where
    F: FnOnce(&'static App) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let config = app.config.clone();
    let blobs = app.blobs.clone();
    in_the_background(move || async move {
        let sdk = sdk_config(&endpoint(ENDPOINT_VAR), "test", "test");
        let other: &'static App = Box::leak(Box::new(App {
            store: shared::infra::store::Store::new(
                shared::infra::aws::dynamodb_client(&sdk),
                config.tables.clone(),
            ),
            blobs,
            config,
        }));
        work(other).await
    })
    .join()
    .expect("the other device's request ran");
}

/// Runs `work` on a thread of its own, with its own runtime, while the caller goes on: a
/// request a race test holds part-way (at a hook) and lets go later. The handle's `join` gives
/// what it returned.
pub fn in_the_background<T, F, Fut>(work: F) -> std::thread::JoinHandle<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
{
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(work())
    })
}

/// The S3 `ObjectCreated` event from `events/`, for `key` (and object `version`) in `bucket`.
pub fn s3_event(
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> aws_lambda_events::event::s3::S3Event {
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/s3-object-created.json"
    ))
    .unwrap();
    let mut event: Value = serde_json::from_str(&template).unwrap();
    event["Records"][0]["s3"]["bucket"]["name"] = serde_json::json!(bucket);
    event["Records"][0]["s3"]["object"]["key"] = serde_json::json!(key);
    event["Records"][0]["s3"]["object"]["versionId"] = serde_json::json!(version);
    serde_json::from_value(event).unwrap()
}

/// Raw requests as `user`, the path sent as written (what [`Client::send`] does); for tests not
/// yet on the typed client.
pub async fn get(app: &App, user: &str, path: &str) -> Reply {
    client(app, user).send("GET", path, None).await
}

pub async fn post(app: &App, user: &str, path: &str, body: Value) -> Reply {
    client(app, user).send("POST", path, Some(body)).await
}

pub async fn patch(app: &App, user: &str, path: impl AsRef<str>, body: Value) -> Reply {
    client(app, user)
        .send("PATCH", path.as_ref(), Some(body))
        .await
}

pub async fn delete(app: &App, user: &str, path: impl AsRef<str>) -> Reply {
    client(app, user).send("DELETE", path.as_ref(), None).await
}

/// An available file's record as a completion leaves it, to write straight to the tables: big
/// groups without thousands of uploads (search), and records stored before the search index
/// existed (its backfill).
pub fn available_file(
    cid: &str,
    name: &str,
    uploaded_at_ms: i64,
) -> shared::domain::model::FileRecord {
    use shared::domain::model::{FileRecord, PreviewRecord, StoredFileStatus};
    let file_id = unique("f");
    FileRecord {
        s3_key: format!("files/{cid}/{file_id}"),
        file_id,
        conversation_id: cid.to_string(),
        name: name.to_string(),
        size: 1,
        content_type: "application/octet-stream".into(),
        sha256: None,
        uploader: "alice".into(),
        uploaded_at_ms,
        expires_at_ms: None,
        status: StoredFileStatus::Available,
        message_seq: Some(1),
        upload_deadline_ms: None,
        s3_version: None,
        deleted_at_ms: None,
        preview: PreviewRecord::default(),
        multipart: None,
        forwarded_from: None,
    }
}

/// Bytes that differ in every part (xorshift), so a part uploaded or copied to the wrong place
/// is caught.
pub fn file_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A Messages stream image of an entry by `sender`, with the attributes of its `kind`
/// (`rest`, as DynamoDB JSON).
pub fn message_image(
    cid: &str,
    seq: u64,
    message_id: &str,
    sender: &str,
    kind: &str,
    rest: serde_json::Value,
) -> serde_json::Value {
    let mut image = serde_json::json!({
        "conversation_id": { "S": cid },
        "seq": { "N": seq.to_string() },
        "message_id": { "S": message_id },
        "sender": { "S": sender },
        "sent_at": { "N": "1795808460123" },
        "kind": { "S": kind },
    });
    for (name, value) in rest.as_object().expect("attributes") {
        image[name] = value.clone();
    }
    image
}

/// A messages-stream record as Lambda hands it: `name` (INSERT/MODIFY) with this new image.
pub fn stream_record(name: &str, number: u64, image: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "eventID": format!("e{number}"),
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": { "conversation_id": image["conversation_id"], "seq": image["seq"] },
            "NewImage": image,
            "SequenceNumber": format!("{number:024}"),
            "SizeBytes": 200,
            "StreamViewType": "NEW_IMAGE"
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/Messages/stream/x"
    })
}
