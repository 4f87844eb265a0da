//! `groupshare-local`: GroupShare on local AWS stand-ins.
//!
//! * `groupshare-local serve` (default): create the template's tables and the bucket (once),
//!   seed the demo (once), serve every route on `GROUPSHARE_PORT` (9000) behind the local JWT
//!   authorizer (bearer tokens from `POST /local/token`, or the `X-Dev-User` shorthand; see
//!   `authorizer.rs`), and run the asynchronous paths as AWS does: S3 upload events through a
//!   queue into `upload-completed`, and `sweep-uploads` every `GROUPSHARE_SWEEP_SECONDS` (60).
//!   The token signing secret lives in `GROUPSHARE_DATA_DIR` (`.local/data`).
//!   Durability is the stand-in's: `scripts/local` runs moto with a write-ahead journal, so
//!   everything acknowledged survives a crash of either process.
//! * `groupshare-local provision ENV_JSON ENV_DOTENV`: tables, bucket and demo data only, then
//!   write the functions' environment for `sam local invoke --env-vars` and
//!   `cargo lambda watch --env-file`.
//!
//! * `groupshare-local watch USER`: connect to the running stack's push endpoint as USER (a
//!   token from its `/local/token` route) and print every frame as a JSON line, as a device
//!   would receive it (scripts/demo uses it as "device B").
//!
//! The stand-in's endpoint comes from `AWS_ENDPOINT_URL` (scripts/local sets it).

use std::net::SocketAddr;

use groupshare_local::{authorizer, events, provision, push, seed, server, template, wake};
use shared::config::Config;

mod watch;
use shared::App;

const PREFIX: &str = "groupshare-local";
const BUCKET: &str = "groupshare-local-files";

type Error = provision::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer())
        .with(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        // Whatever RUST_LOG asks for, other crates (the SDK) stay at INFO at most, as in the
        // functions: below it they print request bodies, with message texts and file names.
        .with(shared::edge::logging::filter(
            tracing_subscriber::filter::LevelFilter::TRACE,
        ))
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("watch") {
        let user = args.get(1).ok_or("usage: groupshare-local watch USER")?;
        return watch::run(user).await;
    }
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .map_err(|_| "AWS_ENDPOINT_URL must point at the local stand-in")?;

    let sdk = shared::infra::aws::load_sdk_config()?;
    let ddb = shared::infra::aws::dynamodb_client(&sdk);
    let s3 = shared::infra::aws::s3_client(&sdk, true);
    let template_yaml = template::workspace_template();
    let specs = template::table_specs(&template_yaml)?;
    let tables = provision::create_tables(&ddb, &specs, PREFIX).await?;
    provision::ensure_bucket(&s3, BUCKET).await?;
    // The template's PreviewQueue: upload-completed and sweep-uploads send to it (and need its
    // URL to start, here as in AWS), make-preview reads it.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let previews_url = events::previews_queue(
        &sqs,
        &template_yaml,
        events::PREVIEWS_QUEUE,
        events::PREVIEW_FAILURES_QUEUE,
    )
    .await?;

    // Invite links point at the web client this server also serves.
    let web_client_url = format!(
        "http://127.0.0.1:{}",
        std::env::var("GROUPSHARE_PORT").unwrap_or_else(|_| "9000".into())
    );
    let env = [
        ("WEB_CLIENT_URL", web_client_url.as_str()),
        ("CONVERSATIONS_TABLE", tables.conversations.as_str()),
        ("MEMBERS_TABLE", tables.members.as_str()),
        ("MESSAGES_TABLE", tables.messages.as_str()),
        ("FILES_TABLE", tables.files.as_str()),
        ("IDEMPOTENCY_TABLE", tables.idempotency.as_str()),
        ("CONNECTIONS_TABLE", tables.connections.as_str()),
        ("PROFILES_TABLE", tables.profiles.as_str()),
        ("INVITES_TABLE", tables.invites.as_str()),
        ("FILE_SEARCH_TABLE", tables.file_search.as_str()),
        ("FILES_BUCKET", BUCKET),
        ("S3_FORCE_PATH_STYLE", "true"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("PREVIEW_QUEUE_URL", previews_url.as_str()),
    ];
    let config = Config::from_lookup(|k| {
        env.iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.to_string())
            .or_else(|| std::env::var(k).ok())
    })?;
    // What wakes the background readers (wake.rs): writes to the messages and members tables
    // wake their streams' pumps; objects put and file records written wake the uploads queue's
    // drain; preview jobs sent wake the previews queue's.
    let written = wake::StreamWrites::default();
    let uploading = wake::Signal::default();
    let queued = wake::Signal::default();
    let app: &'static App = Box::leak(Box::new(signalling_app(config, &sdk, &written, &uploading)));

    if seed::seed(app, BUCKET).await? {
        tracing::info!("seeded the demo group `{}`", seed::CONVERSATION);
    }

    if args.first().map(String::as_str) == Some("provision") {
        let json_path = args
            .get(1)
            .ok_or("usage: groupshare-local provision ENV_JSON ENV_DOTENV")?;
        let dotenv_path = args
            .get(2)
            .ok_or("usage: groupshare-local provision ENV_JSON ENV_DOTENV")?;
        let vars: serde_json::Map<String, serde_json::Value> = env
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        // sam local invoke --env-vars: {"Parameters": {...}} applies to every function.
        std::fs::write(
            json_path,
            serde_json::to_string_pretty(&serde_json::json!({ "Parameters": vars }))?,
        )?;
        let dotenv: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(dotenv_path, dotenv)?;
        println!("provisioned; environment written to {json_path} and {dotenv_path}");
        return Ok(());
    }

    let port: u16 = std::env::var("GROUPSHARE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(9000);
    let data_dir = std::env::var("GROUPSHARE_DATA_DIR").unwrap_or_else(|_| ".local/data".into());
    let mut tokens = authorizer::Authorizer::for_data_dir(std::path::Path::new(&data_dir))
        .map_err(|e| format!("token key in {data_dir}: {e}"))?;
    // The OpenID provider scripts/local runs (local/oidc): its ID tokens are verified through
    // its JWKS, as API Gateway verifies Cognito's, and the web client signs in there.
    let oidc_issuer = std::env::var("GROUPSHARE_OIDC_ISSUER").unwrap_or_default();
    if !oidc_issuer.trim().is_empty() {
        let client_id = std::env::var("GROUPSHARE_OIDC_CLIENT_ID")
            .ok()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| "groupshare-web".into());
        let rules = shared::edge::token::TokenConfig::new(
            &oidc_issuer,
            &client_id,
            std::env::var("GROUPSHARE_OIDC_JWKS_URL").ok().as_deref(),
        )?;
        let sign_in = serde_json::json!({
            "kind": "oidc",
            "issuer": rules.issuer,
            "client_id": client_id,
        });
        tokens = tokens.with_issuer(rules)?;
        if !groupshare_local::web::use_sign_in(sign_in) {
            return Err("the web client's sign-in was configured twice".into());
        }
    }
    if !authorizer::install(tokens) {
        return Err("the authorizer was installed twice".into());
    }
    let (listener, addr) = server::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let queue_url = events::subscribe_bucket(&sqs, &s3, BUCKET).await?;
    // Deployed, S3 invokes upload-completed asynchronously; Lambda's attempts, then its
    // failure queue, play out here as deliveries of the queue's message.
    let attempts = template::async_redrive(&template_yaml, "UploadCompletedFunction")?;
    let redrive = Some((events::UPLOAD_FAILURES_QUEUE, attempts.max_receive_count));
    events::redeliver_as(&sqs, &queue_url, None, redrive).await?;
    let sends = wake::OperationsSucceeded::new(wake::SQS_SENDS, &queued);
    let previews: &'static _ = Box::leak(Box::new(shared::infra::jobs::PreviewQueue::new(
        aws_sdk_sqs::Client::from_conf(sqs.config().to_builder().interceptor(sends).build()),
        previews_url.clone(),
    )));
    print_banner(addr, authorizer::global().issuer());
    let sweep_every = std::time::Duration::from_secs(
        std::env::var("GROUPSHARE_SWEEP_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|s| *s > 0)
            .unwrap_or(60),
    );
    // Push: the management API on an internal loopback port of its own; the stream is the
    // stand-in's.
    let (internal, internal_addr) = server::bind(([127, 0, 0, 1], 0).into()).await?;
    let management =
        shared::infra::push::fanout::ManagementApi::new(&sdk, &format!("http://{internal_addr}"));
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = server::serve(listener, app) => {}
        _ = server::serve_management(internal) => {}
        _ = events::pump_uploads(app, sqs.clone(), queue_url, previews, uploading) => {}
        _ = events::pump_previews(app, sqs, previews_url, queued) => {}
        _ = events::sweep_on_schedule(app, sweep_every, previews) => {}
        _ = pump_streams(app, streams, ddb.clone(), management, &written) => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}

/// Both streams the template maps to the fan-out (appends, and read markers), each pump woken
/// by the stack's writes to its table, in a task of its own: a send writes to both tables, and
/// one pump's fan-out need not wait for the other's.
async fn pump_streams(
    app: &'static App,
    streams: aws_sdk_dynamodbstreams::Client,
    ddb: aws_sdk_dynamodb::Client,
    management: shared::infra::push::fanout::ManagementApi,
    written: &wake::StreamWrites,
) {
    let pumps = written.by_table(&app.config.tables).map(|streamed| {
        let (streams, ddb) = (streams.clone(), ddb.clone());
        tokio::spawn(push::pump_stream(
            app,
            streams,
            ddb,
            management.clone(),
            streamed,
            None,
        ))
    });
    futures::future::join_all(pumps).await;
}

/// The functions' `App` as `App::new` builds it, with clients that raise `written`'s signals
/// after writes to the streamed tables and `uploading` after one to the files table or an
/// object put.
fn signalling_app(
    config: Config,
    sdk: &shared::infra::aws::SdkConfig,
    written: &wake::StreamWrites,
    uploading: &wake::Signal,
) -> App {
    let writes = written
        .interceptor(&config.tables)
        .on(&config.tables.files, uploading);
    let ddb = shared::infra::aws::dynamodb_client(sdk);
    let ddb =
        aws_sdk_dynamodb::Client::from_conf(ddb.config().to_builder().interceptor(writes).build());
    let puts = wake::OperationsSucceeded::new(wake::S3_OBJECT_CREATED, uploading);
    let s3 = shared::infra::aws::s3_client(sdk, config.s3_force_path_style);
    let s3 = aws_sdk_s3::Client::from_conf(s3.config().to_builder().interceptor(puts).build());
    App {
        store: shared::infra::store::Store::new(ddb, config.tables.clone()),
        blobs: shared::infra::blob::Blobs::new(s3, sdk.credentials_provider(), &config),
        config,
    }
}

fn print_banner(addr: SocketAddr, issuer: Option<&shared::edge::token::TokenConfig>) {
    let base = format!("http://{addr}");
    println!("GroupShare local API ready at {base}");
    match issuer {
        Some(issuer) => println!(
            "Web client: {base}/ (sign in at the OpenID provider {} as a demo user, with the password scripts/local printed)",
            issuer.issuer
        ),
        None => {
            println!("Web client: {base}/ (the reference client in web/; sign in as a demo user)")
        }
    }
    println!("Demo users: alice (owner), bob, carol. Every route needs a caller, as behind API Gateway's");
    println!(
        "JWT authorizer: a bearer token from this stack, or the local-only X-Dev-User shorthand."
    );
    println!(
        "Demo group: {}; files demo-report (季度报告.pdf), demo-notes, demo-old (expired)",
        seed::CONVERSATION
    );
    println!("Try:");
    println!("  curl -s -H 'X-Dev-User: bob' {base}/conversations/demo-team/messages");
    println!("  curl -s -H 'X-Dev-User: bob' '{base}/conversations/demo-team/files?ids=demo-report,demo-notes,demo-old'");
    println!(
        "  curl -sL -H 'X-Dev-User: bob' {base}/conversations/demo-team/files/demo-notes/download"
    );
    // `q=报告`, percent-encoded: it finds 季度报告.pdf (the demo's report) by a word of its name.
    println!("  curl -s -H 'X-Dev-User: bob' '{base}/files?q=%E6%8A%A5%E5%91%8A'");
    println!("  curl -s -H 'X-Dev-User: bob' '{base}/users?ids=alice,bob,carol'");
    println!(
        "  curl -s -X POST -H 'X-Dev-User: alice' -H 'content-type: application/json' -d '{{\"max_uses\": 5}}' {base}/conversations/demo-team/invites"
    );
    println!(
        "Tokens (local only, valid {} s):",
        authorizer::TOKEN_TTL.as_secs()
    );
    println!(
        "  curl -s -X POST -d '{{\"user_id\":\"bob\"}}' {base}{}",
        authorizer::TOKEN_PATH
    );
    println!("  TOKEN=$(curl -s '{base}{}?user=bob' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])')", authorizer::TOKEN_PATH);
    println!("  curl -s -H \"Authorization: Bearer $TOKEN\" {base}/conversations");
    println!("Push (WebSocket; every message of your groups as it is sent):");
    println!(
        "  ws://{addr}/ws?token=$TOKEN    or watch as bob: target/debug/groupshare-local watch bob"
    );
    println!("Ctrl-C stops everything; the data stays in .local/moto-data.");
}
