//! What gets deployed: the template's routes match the code's route table, and the binaries
//! `sam build` makes can never honour a dev identity header.

use std::collections::BTreeSet;
use std::process::Command;

use serde_yaml::Value;
use shared::edge::route::ROUTES;

fn template() -> Value {
    serde_yaml::from_str(&groupshare_local::template::workspace_template()).unwrap()
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// (method, path, binary) for every HttpApi event in the template.
fn template_routes(t: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for (_, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_string();
        let Some(events) = r["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, e) in events {
            if e["Type"].as_str() == Some("HttpApi") {
                let p = &e["Properties"];
                out.insert((
                    p["Method"].as_str().unwrap().into(),
                    p["Path"].as_str().unwrap().into(),
                    binary.clone(),
                ));
            }
        }
    }
    out
}

#[test]
fn template_routes_match_the_route_table() {
    let in_code: BTreeSet<(String, String, String)> = ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_string(),
                r.template.to_string(),
                <&str>::from(r.function).to_string(),
            )
        })
        .collect();
    assert_eq!(template_routes(&template()), in_code);
}

/// Browsers call the API from the web client's origin (another host than execute-api), so
/// every method a route uses must pass the HTTP API's CORS preflight; API Gateway answers the
/// preflight itself from CorsConfiguration, which the local stack (same origin) never reads.
#[test]
fn cors_preflight_allows_every_route_method() {
    let t = template();
    let allowed: BTreeSet<String> =
        strings(&t["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]["AllowMethods"])
            .into_iter()
            .map(|m| m.to_ascii_uppercase())
            .collect();
    let used: BTreeSet<String> = ROUTES.iter().map(|r| r.method.to_string()).collect();
    let refused: Vec<&String> = used.difference(&allowed).collect();
    assert!(refused.is_empty(), "preflight refuses {refused:?}");
}

#[test]
fn every_function_binary_exists_and_builds_with_cargo_lambda() {
    let t = template();
    for (id, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        assert_eq!(
            r["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id:?}"
        );
        let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let manifest = workspace_root()
            .join("functions")
            .join(binary)
            .join("Cargo.toml");
        assert!(manifest.exists(), "{id:?}: no crate for binary {binary}");
    }
}

fn resources(t: &Value) -> impl Iterator<Item = (&str, &Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(id, r)| (id.as_str().unwrap(), r))
}

fn of_type<'a>(t: &'a Value, ty: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> {
    resources(t).filter(move |(_, r)| r["Type"].as_str() == Some(ty))
}

/// `!Tag value` → (tag, value); anything else → ("", itself).
fn tagged(v: &Value) -> (String, &Value) {
    match v {
        Value::Tagged(t) => (
            t.tag.to_string().trim_start_matches('!').to_string(),
            &t.value,
        ),
        other => (String::new(), other),
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        Value::Tagged(t) => vec![format!(
            "!{} {}",
            t.tag,
            serde_yaml::to_string(&t.value).unwrap().trim()
        )],
        other => vec![format!("{other:?}")],
    }
}

/// Every IAM statement the template grants or denies: inline function policies, IAM policies,
/// bucket and queue policies. (resource id, statement)
fn statements(t: &Value) -> Vec<(&str, &Value)> {
    let mut out = Vec::new();
    for (id, r) in resources(t) {
        let p = &r["Properties"];
        let mut docs: Vec<&Value> = vec![&p["PolicyDocument"]];
        if let Some(policies) = p["Policies"].as_sequence() {
            docs.extend(policies.iter());
        }
        for doc in docs {
            if let Some(list) = doc["Statement"].as_sequence() {
                out.extend(list.iter().map(|s| (id, s)));
            }
        }
    }
    out
}

#[test]
fn function_policies_name_resources_not_wildcards() {
    let t = template();
    let all = statements(&t);
    assert!(all.len() > 20, "found the statements: {}", all.len());
    for (id, s) in all {
        if s["Effect"].as_str() != Some("Allow") {
            continue;
        }
        for action in strings(&s["Action"]) {
            assert!(!action.contains('*'), "{id}: wildcard action {action}");
            // The one exception is no request path: the sweep function's file-search
            // backfill, invoked by hand (docs/operations.md), on the Files table only.
            if action == "dynamodb:Scan" {
                assert_eq!(id, "SweepUploadsFunction", "{id}: no request path scans");
                let files = ("GetAtt".to_string(), &Value::from("FilesTable.Arn"));
                assert_eq!(tagged(&s["Resource"]), files, "{id}: scans Files only");
            }
        }
        for resource in strings(&s["Resource"]) {
            assert_ne!(resource, "*", "{id}: wildcard resource");
            // Object rights only ever cover the upload and preview prefixes (or the web
            // client's own bucket).
            if strings(&s["Action"])
                .iter()
                .any(|a| a.starts_with("s3:") && a.contains("Object"))
            {
                assert!(
                    resource.contains("/files/*")
                        || resource.contains("/previews/*")
                        || resource.contains("WebClientBucket"),
                    "{id}: object rights beyond files/ and previews/: {resource}"
                );
            }
        }
    }
}

/// Nothing that holds members' data can go away with the stack, a rollback or a replacing
/// update; the tables also refuse DeleteTable, keep point-in-time recovery and are encrypted.
#[test]
fn stored_data_outlives_the_stack() {
    let t = template();
    // Every table but the connections table holds data; open connections are not data (a
    // lost table only means clients reconnect), so that one is neither kept nor backed up.
    let tables: Vec<_> = of_type(&t, "AWS::DynamoDB::Table")
        .filter(|(id, _)| *id != "ConnectionsTable")
        .collect();
    assert_eq!(tables.len(), 8);
    let connections = &t["Resources"]["ConnectionsTable"]["Properties"];
    assert_eq!(
        connections["SSESpecification"]["SSEEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        connections["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some("expires_at_s")
    );
    let mut kept: Vec<(&str, &Value)> = tables.clone();
    kept.push(("FilesBucket", &t["Resources"]["FilesBucket"]));
    kept.extend(of_type(&t, "AWS::Cognito::UserPool"));
    for (id, r) in kept {
        assert_eq!(r["DeletionPolicy"].as_str(), Some("Retain"), "{id}");
        assert_eq!(r["UpdateReplacePolicy"].as_str(), Some("Retain"), "{id}");
    }
    for (id, r) in tables {
        let p = &r["Properties"];
        assert_eq!(p["DeletionProtectionEnabled"].as_bool(), Some(true), "{id}");
        assert_eq!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
            Some(true),
            "{id}"
        );
        assert_eq!(
            p["SSESpecification"]["SSEEnabled"].as_bool(),
            Some(true),
            "{id}"
        );
    }
    let bucket = &t["Resources"]["FilesBucket"]["Properties"];
    assert_eq!(
        bucket["VersioningConfiguration"]["Status"].as_str(),
        Some("Enabled")
    );
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][flag].as_bool(),
            Some(true),
            "{flag}"
        );
    }
    assert!(bucket["BucketEncryption"].is_mapping());
}

/// Every bucket and queue refuses plain HTTP, for the bucket and for each object in it.
#[test]
fn buckets_and_queues_refuse_plain_http() {
    let t = template();
    let denies_http = |policy_type: &str, target_key: &str, target: &str| {
        of_type(&t, policy_type).any(|(_, p)| {
            let p = &p["Properties"];
            let targets = strings(&p[target_key]);
            targets.iter().any(|x| x.contains(target))
                && p["PolicyDocument"]["Statement"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .any(|s| {
                        let resources = strings(&s["Resource"]);
                        s["Effect"].as_str() == Some("Deny")
                            && s["Principal"].as_str() == Some("*")
                            && s["Condition"]["Bool"]["aws:SecureTransport"].as_str()
                                == Some("false")
                            && resources.iter().any(|r| r.contains(target))
                            && (policy_type != "AWS::S3::BucketPolicy"
                                || resources.iter().any(|r| r.ends_with("/*")))
                    })
        })
    };
    let buckets: Vec<_> = of_type(&t, "AWS::S3::Bucket").map(|(id, _)| id).collect();
    assert_eq!(buckets.len(), 2, "{buckets:?}");
    for id in buckets {
        assert!(denies_http("AWS::S3::BucketPolicy", "Bucket", id), "{id}");
    }
    for (id, _) in of_type(&t, "AWS::SQS::Queue") {
        assert!(denies_http("AWS::SQS::QueuePolicy", "Queues", id), "{id}");
    }
}

/// S3 may invoke the completion function only for this stack's bucket in this account, and an
/// event it cannot handle is retried, then kept, never dropped.
#[test]
fn upload_events_come_only_from_the_files_bucket_and_failures_are_kept() {
    let t = template();
    let permission = &t["Resources"]["UploadCompletedInvokePermission"]["Properties"];
    assert_eq!(permission["Principal"].as_str(), Some("s3.amazonaws.com"));
    assert!(!permission["SourceAccount"].is_null());
    // SourceArn spells the bucket's name exactly as the bucket does.
    let (tag, source_arn) = tagged(&permission["SourceArn"]);
    assert_eq!(tag, "Sub");
    let (tag, bucket_name) = tagged(&t["Resources"]["FilesBucket"]["Properties"]["BucketName"]);
    assert_eq!(tag, "Sub");
    let arn_pattern = source_arn[0].as_str().unwrap();
    let name_pattern = bucket_name[0].as_str().unwrap();
    assert_eq!(
        arn_pattern,
        format!("arn:${{AWS::Partition}}:s3:::{name_pattern}")
    );
    assert_eq!(source_arn[1], bucket_name[1], "same substitutions");

    let invoke = &t["Resources"]["UploadCompletedFunction"]["Properties"]["EventInvokeConfig"];
    let retries = invoke["MaximumRetryAttempts"].as_u64().unwrap();
    assert!((1..=2).contains(&retries), "retried: {retries}");
    let on_failure = &invoke["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"].as_str(), Some("SQS"));
    let (tag, target) = tagged(&on_failure["Destination"]);
    assert_eq!(tag, "GetAtt");
    let queue = target.as_str().unwrap().split('.').next().unwrap();
    assert_eq!(
        t["Resources"][queue]["Type"].as_str(),
        Some("AWS::SQS::Queue"),
        "{queue}"
    );
}

fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args(args)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The deployed functions cannot honour a dev identity: there is no switch for one in their
/// crates, and nothing of the local stack (its authorizer, its `X-Dev-User` shorthand) is in
/// the graph of any function binary. scripts/check-deployed-identity builds the binaries the
/// way `sam build` and `cargo lambda build --workspace` do and checks the running binaries.
#[test]
fn deployed_builds_cannot_honour_a_dev_identity() {
    // No identity feature anywhere a function is built from.
    let meta: serde_json::Value = serde_json::from_str(&cargo(&[
        "metadata",
        "--offline",
        "--no-deps",
        "--format-version",
        "1",
    ]))
    .unwrap();
    let t = template();
    let binaries: BTreeSet<String> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|r| {
            r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(binaries.len(), 12, "{binaries:?}");
    let mut checked = 0;
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        if name != "shared" && !binaries.contains(name) {
            continue;
        }
        checked += 1;
        let features: Vec<&String> = package["features"].as_object().unwrap().keys().collect();
        assert!(
            !features
                .iter()
                .any(|f| f.contains("dev") || f.contains("identity")),
            "{name} has an identity feature: {features:?}"
        );
    }
    assert_eq!(checked, binaries.len() + 1, "shared and every function");

    // No function's dependency graph contains the local stack.
    for binary in &binaries {
        let tree = cargo(&[
            "tree",
            "--offline",
            "-p",
            binary,
            "--prefix",
            "none",
            "-e",
            "all",
        ]);
        assert!(
            tree.contains("shared v0.1.0"),
            "looked at the right graph:\n{tree}"
        );
        for local_only in ["groupshare-local", "groupshare-tests", "jsonwebtoken"] {
            // The WebSocket authorizer verifies the issuer's tokens itself (JWKS), as API
            // Gateway's JWT authorizer does for the HTTP API; no other function may.
            if local_only == "jsonwebtoken" && binary == "ws-authorizer" {
                continue;
            }
            assert!(
                !tree
                    .lines()
                    .any(|l| l.starts_with(&format!("{local_only} "))),
                "{binary} depends on {local_only}:\n{tree}"
            );
        }
        // Image decoders are in the preview function's binary only.
        let has_image = tree.lines().any(|l| l.starts_with("image v"));
        assert_eq!(has_image, binary == "make-preview", "{binary}: image crate");
    }

    let text = groupshare_local::template::workspace_template();
    assert!(!text.contains("dev-identity") && !text.to_lowercase().contains("x-dev-user"));
}

/// Two identity modes from one template: an existing provider (JwtIssuer set) or a Cognito
/// pool the stack creates (JwtIssuer empty). The pool and its client exist only in the second,
/// the authorizer trusts exactly one of them, and the outputs say which.
#[test]
fn identity_is_an_own_issuer_or_a_created_user_pool() {
    let t = template();
    let condition = serde_yaml::to_string(&t["Conditions"]["CreateUserPool"]).unwrap();
    assert!(
        condition.contains("Equals") && condition.contains("JwtIssuer"),
        "{condition}"
    );
    assert_eq!(t["Parameters"]["JwtIssuer"]["Default"].as_str(), Some(""));
    for id in ["UserPool", "UserPoolClient"] {
        assert_eq!(
            t["Resources"][id]["Condition"].as_str(),
            Some("CreateUserPool"),
            "{id}"
        );
    }
    let jwt = &t["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"]["JwtAuthorizer"]
        ["JwtConfiguration"];
    for (field, created) in [("issuer", "UserPool"), ("audience", "UserPoolClient")] {
        let (tag, branches) = tagged(&jwt[field]);
        assert_eq!(tag, "If", "{field}");
        assert_eq!(branches[0].as_str(), Some("CreateUserPool"));
        let yes = serde_yaml::to_string(&branches[1]).unwrap();
        let no = serde_yaml::to_string(&branches[2]).unwrap();
        assert!(yes.contains(created), "{field}: {yes}");
        assert!(no.contains("Jwt"), "{field}: {no}");
    }
    for id in ["UserPoolId", "UserPoolClientId"] {
        assert_eq!(
            t["Outputs"][id]["Condition"].as_str(),
            Some("CreateUserPool"),
            "{id}"
        );
    }
    assert!(t["Outputs"]["JwtIssuerUrl"]["Condition"].is_null());
}

/// An own issuer without audiences is refused before anything is created, with a message that
/// says why: otherwise the HTTP API's authorizer gets `[""]` (refused by API Gateway mid-deploy,
/// or no token's `aud` matches it and every request is 401) and the WebSocket authorizer an
/// empty `JWT_AUDIENCE` (it stops at init: every connect 500).
#[test]
fn an_own_issuer_needs_its_audiences() {
    let t = template();
    let rules = t["Rules"].as_mapping().unwrap();
    let refused = rules.values().any(|rule| {
        let when = serde_yaml::to_string(&rule["RuleCondition"]).unwrap();
        let asserts = serde_yaml::to_string(&rule["Assertions"]).unwrap();
        when.contains("Not")
            && when.contains("JwtIssuer")
            && asserts.contains("JwtAudience")
            && asserts.contains("Contains")
    });
    assert!(refused, "no rule refuses JwtIssuer without JwtAudience");
}

/// The created pool's sign-in is what the web client does and nothing more: OpenID Connect
/// authorization code (+ PKCE, the client being public) at the pool's hosted domain, never the
/// implicit flow; no explicit auth flow but refreshing; callback and sign-out URLs from
/// parameters; an hour per token and thirty days per sign-in; and no self sign-up unless a
/// parameter opens it.
#[test]
fn created_pool_signs_in_with_the_code_flow_only() {
    let t = template();
    let client = &t["Resources"]["UserPoolClient"]["Properties"];
    assert_eq!(client["GenerateSecret"].as_bool(), Some(false));
    assert_eq!(
        client["AllowedOAuthFlowsUserPoolClient"].as_bool(),
        Some(true)
    );
    assert_eq!(strings(&client["AllowedOAuthFlows"]), ["code"]);
    assert_eq!(
        strings(&client["AllowedOAuthScopes"]),
        ["openid", "email", "profile"]
    );
    assert_eq!(strings(&client["SupportedIdentityProviders"]), ["COGNITO"]);
    assert_eq!(
        strings(&client["ExplicitAuthFlows"]),
        ["ALLOW_REFRESH_TOKEN_AUTH"]
    );
    let whole = serde_yaml::to_string(&t).unwrap();
    assert!(
        !whole.contains("implicit"),
        "the implicit flow is never allowed"
    );

    // Callback and sign-out URLs: the parameters, else the web client's address.
    for (field, first) in [
        ("CallbackURLs", "SignInCallbackUrls"),
        ("LogoutURLs", "SignOutUrls"),
    ] {
        let (tag, branches) = tagged(&client[field]);
        assert_eq!(tag, "If", "{field}");
        assert_eq!(strings(&branches[1]), [format!("!!Ref {first}")], "{field}");
        let fallback = serde_yaml::to_string(&branches[2]).unwrap();
        assert!(fallback.contains("${WebClientUrl}/"), "{field}: {fallback}");
        if field == "LogoutURLs" {
            assert!(fallback.contains("SignInCallbackUrls"), "{fallback}");
        }
    }
    for name in ["SignInCallbackUrls", "SignOutUrls"] {
        assert_eq!(
            t["Parameters"][name]["Type"].as_str(),
            Some("CommaDelimitedList")
        );
    }

    // Token lifetimes: ID and access 1 hour, refresh 30 days.
    assert_eq!(client["IdTokenValidity"].as_u64(), Some(60));
    assert_eq!(client["AccessTokenValidity"].as_u64(), Some(60));
    assert_eq!(client["RefreshTokenValidity"].as_u64(), Some(30));
    let units = &client["TokenValidityUnits"];
    assert_eq!(units["IdToken"].as_str(), Some("minutes"));
    assert_eq!(units["AccessToken"].as_str(), Some("minutes"));
    assert_eq!(units["RefreshToken"].as_str(), Some("days"));

    // The hosted sign-in domain, with the pool, from its parameter (required by a rule).
    let domain = &t["Resources"]["UserPoolDomain"];
    assert_eq!(
        domain["Type"].as_str(),
        Some("AWS::Cognito::UserPoolDomain")
    );
    assert_eq!(
        strings(&domain["Properties"]["Domain"]),
        ["!!Ref SignInDomainPrefix"]
    );
    let condition = serde_yaml::to_string(&t["Conditions"]["CreateSignInDomain"]).unwrap();
    assert!(
        condition.contains("CreateUserPool") && condition.contains("SignInDomainPrefix"),
        "{condition}"
    );
    let rule = serde_yaml::to_string(&t["Rules"]["CreatedUserPoolNeedsSignIn"]).unwrap();
    for needed in ["SignInDomainPrefix", "WebClientUrl", "SignInCallbackUrls"] {
        assert!(rule.contains(needed), "{needed}: {rule}");
    }

    // Self sign-up: off unless AllowSelfSignUp is "true".
    assert_eq!(
        t["Parameters"]["AllowSelfSignUp"]["Default"].as_str(),
        Some("false")
    );
    let only_admins = &t["Resources"]["UserPool"]["Properties"]["AdminCreateUserConfig"]
        ["AllowAdminCreateUserOnly"];
    let (tag, branches) = tagged(only_admins);
    assert_eq!(tag, "If");
    assert_eq!(branches[0].as_str(), Some("SelfSignUp"));
    assert_eq!(
        (branches[1].as_bool(), branches[2].as_bool()),
        (Some(false), Some(true))
    );
    let self_sign_up = serde_yaml::to_string(&t["Conditions"]["SelfSignUp"]).unwrap();
    assert!(
        self_sign_up.contains("AllowSelfSignUp") && self_sign_up.contains("'true'"),
        "{self_sign_up}"
    );

    // What web/config.json needs: issuer, client id, sign-out and revocation URLs
    // (docs/deploy.md).
    for output in [
        "JwtIssuerUrl",
        "UserPoolClientId",
        "SignInDomainUrl",
        "SignOutUrl",
        "RevocationUrl",
    ] {
        assert!(t["Outputs"][output].is_mapping(), "{output}");
    }
    let revoke = serde_yaml::to_string(&t["Outputs"]["RevocationUrl"]["Value"]).unwrap();
    assert!(
        revoke.contains("amazoncognito.com/oauth2/revoke"),
        "{revoke}"
    );
    let client = &t["Resources"]["UserPoolClient"]["Properties"];
    assert_eq!(client["EnableTokenRevocation"].as_bool(), Some(true));
    let sign_out = serde_yaml::to_string(&t["Outputs"]["SignOutUrl"]["Value"]).unwrap();
    assert!(
        sign_out.contains("/logout?client_id=${UserPoolClient}&logout_uri="),
        "{sign_out}"
    );
}

/// Retention is decided per file: each allowed RetentionDays value has its own key prefix and
/// lifecycle rule, and no expiring rule reaches a prefix of another retention (so changing the
/// parameter never deletes bytes whose record says `available`).
#[test]
fn each_retention_has_its_own_lifecycle_rule() {
    use shared::config::RETENTION_DAYS_CHOICES;
    let t = template();
    let allowed: Vec<u32> = t["Parameters"]["RetentionDays"]["AllowedValues"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(allowed, RETENTION_DAYS_CHOICES, "template and code agree");
    let rules = t["Resources"]["FilesBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .unwrap();
    let expiring: Vec<(&str, &Value)> = rules
        .iter()
        .filter(|r| !r["ExpirationInDays"].is_null())
        .map(|r| (r["Prefix"].as_str().unwrap(), r))
        .collect();
    // Exactly one enabled rule expires `key` after `days`, by its retention's prefix under
    // `root`; nothing expires a key kept forever.
    let expires_with = |key: &str, root: &str, days: u32| {
        let matching: Vec<&(&str, &Value)> = expiring
            .iter()
            .filter(|(p, _)| key.starts_with(p))
            .collect();
        if days == 0 {
            assert!(matching.is_empty(), "{key} is kept forever: {matching:?}");
            return;
        }
        assert_eq!(matching.len(), 1, "{key}: {matching:?}");
        let (prefix, rule) = matching[0];
        assert_eq!(*prefix, format!("{root}/r{days}/"));
        assert_eq!(rule["Status"].as_str(), Some("Enabled"), "{key}");
        assert_eq!(rule["ExpirationInDays"].as_u64(), Some(u64::from(days)));
    };
    for days in RETENTION_DAYS_CHOICES.iter().copied() {
        let file_key = shared::infra::blob::object_key("0123abcd", "f", days);
        expires_with(&file_key, "files", days);
        // A file's previews expire with it: the same days, by a rule of their own prefix.
        for size in shared::domain::model::PreviewSize::ALL {
            let key = shared::infra::blob::preview_key(&file_key, size).unwrap();
            expires_with(&key, "previews", days);
        }
    }
    // Keys of the first layout (hex conversation ids) still expire, by the parameter.
    for digit in "0123456789abcdef".chars() {
        let key = format!("files/{digit}123/f");
        let matching: Vec<_> = expiring
            .iter()
            .filter(|(p, _)| key.starts_with(p))
            .collect();
        assert_eq!(matching.len(), 1, "{key}");
        let (tag, _) = tagged(&matching[0].1["ExpirationInDays"]);
        assert_eq!(tag, "If", "{key} follows RetentionDays");
    }
}

/// Each function's DynamoDB rights, exactly: what its code calls (a transaction needs the
/// per-item action on each table it writes), nothing more. A new call needs a line here and
/// in the template; a grant the code stops using must leave both.
#[test]
fn dynamodb_grants_are_exactly_what_the_code_uses() {
    use std::collections::BTreeMap;
    let t = template();
    let mut granted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (id, s) in statements(&t) {
        if s["Effect"].as_str() != Some("Allow") {
            continue;
        }
        let function = match id {
            "UploadCompletedStoragePolicy" => "UploadCompletedFunction",
            other => other,
        };
        for resource in strings(&s["Resource"]) {
            let Some(at) = resource.find("Table") else {
                continue;
            };
            let start = resource[..at]
                .rfind(|c: char| !c.is_ascii_alphanumeric())
                .map_or(0, |i| i + 1);
            let mut target = resource[start..at + "Table".len()].to_string();
            if let Some(index) = resource.split("/index/").nth(1) {
                target = format!("{target}/{}", index.trim_end_matches('"'));
            }
            for action in strings(&s["Action"]) {
                if let Some(a) = action.strip_prefix("dynamodb:") {
                    granted
                        .entry((function.to_string(), target.clone()))
                        .or_default()
                        .insert(a.to_string());
                }
            }
        }
    }
    // One row per grant: (function, table or index, actions), as the template reads.
    #[rustfmt::skip]
    let expected: &[(&str, &str, &[&str])] = &[
        ("ConversationsFunction", "ConversationsTable", &["BatchGetItem", "GetItem", "PutItem", "UpdateItem"]),
        ("ConversationsFunction", "MembersTable", &["BatchGetItem", "ConditionCheckItem", "DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"]),
        ("ConversationsFunction", "ProfilesTable", &["BatchGetItem", "GetItem", "UpdateItem"]),
        ("ConversationsFunction", "InvitesTable", &["GetItem", "PutItem", "UpdateItem"]),
        ("ConversationsFunction", "InvitesTable/by-conversation", &["Query"]),
        ("ConversationsFunction", "MessagesTable", &["PutItem"]),
        ("DownloadRedirectFunction", "FilesTable", &["GetItem"]),
        ("DownloadRedirectFunction", "MembersTable", &["GetItem"]),
        ("FileInfoFunction", "FilesTable", &["BatchGetItem", "GetItem"]),
        ("FileInfoFunction", "FilesTable/by-conversation", &["Query"]),
        ("FileInfoFunction", "MembersTable", &["BatchGetItem", "GetItem"]),
        ("FileInfoFunction", "FileSearchTable", &["Query"]),
        ("FileInfoFunction", "ProfilesTable", &["GetItem"]),
        ("FileInfoFunction", "ConversationsTable", &["BatchGetItem"]),
        ("MakePreviewFunction", "FilesTable", &["GetItem", "UpdateItem"]),
        ("PostMessageFunction", "ConversationsTable", &["GetItem", "UpdateItem"]),
        ("PostMessageFunction", "IdempotencyTable", &["GetItem", "PutItem"]),
        ("PostMessageFunction", "MembersTable", &["GetItem", "UpdateItem"]),
        ("PostMessageFunction", "MessagesTable", &["GetItem", "PutItem"]),
        ("PostMessageFunction", "FilesTable", &["GetItem", "UpdateItem"]),
        ("PostMessageFunction", "FileSearchTable", &["DeleteItem", "PutItem"]),
        ("PullMessagesFunction", "MembersTable", &["BatchGetItem", "GetItem"]),
        ("PullMessagesFunction", "MessagesTable", &["Query"]),
        ("SweepUploadsFunction", "ConversationsTable", &["GetItem", "UpdateItem"]),
        ("SweepUploadsFunction", "FilesTable", &["ConditionCheckItem", "GetItem", "Scan", "UpdateItem"]),
        ("SweepUploadsFunction", "FileSearchTable", &["PutItem"]),
        ("SweepUploadsFunction", "FilesTable/pending-by-deadline", &["Query"]),
        ("SweepUploadsFunction", "FilesTable/purge-by-deleted-at", &["Query"]),
        ("SweepUploadsFunction", "MembersTable", &["ConditionCheckItem", "GetItem", "UpdateItem"]),
        ("SweepUploadsFunction", "MessagesTable", &["GetItem", "PutItem"]),
        ("UploadCompletedFunction", "ConversationsTable", &["GetItem", "UpdateItem"]),
        ("UploadCompletedFunction", "FilesTable", &["ConditionCheckItem", "GetItem", "UpdateItem"]),
        ("UploadCompletedFunction", "FileSearchTable", &["PutItem"]),
        ("UploadCompletedFunction", "MembersTable", &["ConditionCheckItem", "GetItem", "UpdateItem"]),
        ("UploadCompletedFunction", "MessagesTable", &["GetItem", "PutItem"]),
        ("UploadFileFunction", "ConversationsTable", &["GetItem", "UpdateItem"]),
        ("UploadFileFunction", "FilesTable", &["ConditionCheckItem", "GetItem", "PutItem", "UpdateItem"]),
        ("UploadFileFunction", "FileSearchTable", &["PutItem"]),
        ("UploadFileFunction", "MembersTable", &["ConditionCheckItem", "GetItem", "UpdateItem"]),
        ("UploadFileFunction", "MessagesTable", &["GetItem", "PutItem"]),
        ("PushFanoutFunction", "ConnectionsTable", &["BatchGetItem", "UpdateItem"]),
        ("PushFanoutFunction", "MembersTable", &["Query"]),
        ("WsConnectionsFunction", "ConnectionsTable", &["GetItem", "UpdateItem"]),
    ];
    let expected: BTreeMap<(String, String), BTreeSet<String>> = expected
        .iter()
        .map(|(f, table, actions)| {
            (
                (f.to_string(), table.to_string()),
                actions.iter().map(|a| a.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(granted, expected);
}

/// Logs expire: every function writes to a log group of this stack whose retention is the
/// LogRetentionDays parameter, and the API's JSON access log has its own such group.
#[test]
fn every_log_group_is_declared_with_a_retention() {
    let t = template();
    let groups: BTreeSet<&str> = of_type(&t, "AWS::Logs::LogGroup")
        .map(|(id, r)| {
            let (tag, param) = tagged(&r["Properties"]["RetentionInDays"]);
            assert_eq!(
                (tag.as_str(), param.as_str()),
                ("Ref", Some("LogRetentionDays")),
                "{id}"
            );
            id
        })
        .collect();
    let functions: Vec<_> = of_type(&t, "AWS::Serverless::Function").collect();
    assert_eq!(functions.len(), 12);
    for (id, f) in functions {
        let (tag, group) = tagged(&f["Properties"]["LoggingConfig"]["LogGroup"]);
        assert_eq!(tag, "Ref", "{id}");
        assert!(groups.contains(group.as_str().unwrap()), "{id}: {group:?}");
    }
    assert_eq!(
        t["Globals"]["Function"]["LoggingConfig"]["LogFormat"].as_str(),
        Some("JSON")
    );
    let (tag, tracing) = tagged(&t["Globals"]["Function"]["Tracing"]);
    assert_eq!((tag.as_str(), tracing.as_str()), ("Ref", Some("Tracing")));
    let access = &t["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    let (_, destination) = tagged(&access["DestinationArn"]);
    assert_eq!(destination.as_str(), Some("ApiAccessLogGroup.Arn"));
    let format = access["Format"].as_str().unwrap();
    for field in ["$context.requestId", "$context.routeKey", "$context.status"] {
        assert!(format.contains(field), "access log has {field}");
    }
    let sample = format
        .replace("$context.status", "200")
        .replace("$context.responseLatency", "12");
    let sample = regex_lite_replace_context(&sample);
    serde_json::from_str::<serde_json::Value>(&sample).expect("access log lines are JSON");
}

/// `"$context.x"` placeholders inside strings become plain text for the JSON check.
fn regex_lite_replace_context(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("$context.") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '$'))
            .unwrap_or(tail.len());
        out.push('x');
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The alarms operations relies on exist, notify the optional topic, and are on the
/// dashboard (docs/operations.md says what each means and what to do).
#[test]
fn alarms_cover_functions_api_tables_and_lost_events() {
    let t = template();
    let alarms: BTreeSet<&str> = of_type(&t, "AWS::CloudWatch::Alarm")
        .map(|(id, a)| {
            let p = &a["Properties"];
            for actions in ["AlarmActions", "OKActions"] {
                let text = serde_yaml::to_string(&p[actions]).unwrap();
                assert!(
                    text.contains("HasAlarmTopic") && text.contains("AlarmTopicArn"),
                    "{id}"
                );
            }
            id
        })
        .collect();
    let wanted = [
        "FunctionErrorsAlarm",
        "FunctionThrottlesAlarm",
        "Api5xxRateAlarm",
        "Api429Alarm",
        "DynamoReadThrottlesAlarm",
        "DynamoWriteThrottlesAlarm",
        "UploadEventFailuresAlarm",
        "PreviewJobFailuresAlarm",
        "PushErrorsAlarm",
        "PushDelayAlarm",
    ];
    assert_eq!(alarms, wanted.into_iter().collect());
    // Every function in the error and throttle sums (the push functions in their own, as an
    // alarm takes ten metrics at most), every table in the throttle sums.
    let text = |id: &str| serde_yaml::to_string(&t["Resources"][id]).unwrap();
    let push = [
        "WsAuthorizerFunction",
        "WsConnectionsFunction",
        "PushFanoutFunction",
    ];
    let metrics = |alarm: &str, name: &str| -> Vec<String> {
        t["Resources"][alarm]["Properties"]["Metrics"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter(|m| m["MetricStat"]["Metric"]["MetricName"].as_str() == Some(name))
            .map(|m| serde_yaml::to_string(&m["MetricStat"]["Metric"]["Dimensions"]).unwrap())
            .collect()
    };
    for (id, _) in of_type(&t, "AWS::Serverless::Function") {
        let in_sum = |alarm: &str, name: &str| metrics(alarm, name).iter().any(|d| d.contains(id));
        if push.contains(&id) {
            assert!(in_sum("PushErrorsAlarm", "Throttles"), "{id}");
            // The authorizer refuses bad tokens by failing: its errors are not faults.
            assert_eq!(
                in_sum("PushErrorsAlarm", "Errors"),
                id != "WsAuthorizerFunction",
                "{id}"
            );
        } else {
            assert!(in_sum("FunctionErrorsAlarm", "Errors"), "{id}");
            assert!(in_sum("FunctionThrottlesAlarm", "Throttles"), "{id}");
        }
    }
    assert!(text("PushDelayAlarm").contains("IteratorAge"));
    for (id, _) in of_type(&t, "AWS::DynamoDB::Table") {
        assert!(text("DynamoReadThrottlesAlarm").contains(id), "{id}");
        assert!(text("DynamoWriteThrottlesAlarm").contains(id), "{id}");
    }
    let dashboard = text("Dashboard");
    for alarm in wanted {
        assert!(dashboard.contains(&format!("${{{alarm}.Arn}}")), "{alarm}");
    }
    let docs = std::fs::read_to_string(workspace_root().join("docs/operations.md")).unwrap();
    for alarm in wanted {
        assert!(
            docs.contains(&format!("### {alarm}")),
            "docs/operations.md explains {alarm}"
        );
    }
}

/// File size limits are parameters bounded by S3's own limits, reach every function through
/// the environment, and read back as the code's defaults.
#[test]
fn file_size_limits_are_parameters_within_s3s_limits() {
    use shared::config::*;
    let t = template();
    let p = &t["Parameters"];
    let bounds = |name: &str| {
        let n = |k: &str| p[name][k].as_u64().unwrap_or_else(|| panic!("{name}.{k}"));
        (n("Default"), n("MinValue"), n("MaxValue"))
    };
    assert_eq!(bounds("MaxUploadBytes"), (50 << 30, 1, S3_MAX_OBJECT_BYTES));
    assert_eq!(
        bounds("MultipartThresholdBytes"),
        (64 << 20, 0, S3_MAX_POST_BYTES)
    );
    assert_eq!(
        bounds("MultipartPartSizeBytes"),
        (16 << 20, S3_MIN_PART_BYTES, S3_MAX_PART_BYTES)
    );
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    let mut vars = std::collections::HashMap::new();
    for (var, param) in [
        ("MAX_UPLOAD_BYTES", "MaxUploadBytes"),
        ("MULTIPART_THRESHOLD_BYTES", "MultipartThresholdBytes"),
        ("MULTIPART_PART_SIZE_BYTES", "MultipartPartSizeBytes"),
    ] {
        let (tag, value) = tagged(&env[var]);
        assert_eq!(
            (tag.as_str(), value.as_str()),
            ("Ref", Some(param)),
            "{var}"
        );
        vars.insert(
            var.to_string(),
            p[param]["Default"].as_u64().unwrap().to_string(),
        );
    }
    for table in [
        "CONVERSATIONS_TABLE",
        "MEMBERS_TABLE",
        "MESSAGES_TABLE",
        "FILES_TABLE",
        "IDEMPOTENCY_TABLE",
        "CONNECTIONS_TABLE",
        "PROFILES_TABLE",
        "INVITES_TABLE",
        "FILE_SEARCH_TABLE",
    ] {
        vars.insert(table.to_string(), "t".into());
    }
    let deployed = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let defaults = Config::from_lookup(|k| {
        (!k.starts_with("MAX_") && !k.starts_with("MULTIPART_"))
            .then(|| vars.get(k).cloned())
            .flatten()
    })
    .unwrap();
    assert_eq!(
        (
            deployed.max_upload_bytes,
            deployed.multipart_threshold_bytes,
            deployed.part_size_bytes
        ),
        (
            defaults.max_upload_bytes,
            defaults.multipart_threshold_bytes,
            defaults.part_size_bytes
        )
    );
}

/// The functions that ask S3 whether bytes exist (HeadObject before completing, the preview
/// job's GetObject of a version) may list the bucket: without `s3:ListBucket`, S3 answers a
/// missing key with 403 instead of 404, and "not uploaded yet" would become a server fault in
/// AWS (the stand-ins enforce no IAM, so only the template can show it).
#[test]
fn functions_that_look_for_bytes_may_list_the_bucket() {
    let t = template();
    for name in [
        "UploadFileFunction",
        "SweepUploadsFunction",
        "MakePreviewFunction",
        "UploadCompletedStoragePolicy",
    ] {
        let r = &t["Resources"][name];
        let statements = match r["Type"].as_str() {
            Some("AWS::IAM::Policy") => r["Properties"]["PolicyDocument"]["Statement"].clone(),
            _ => r["Properties"]["Policies"][0]["Statement"].clone(),
        };
        let lists = statements.as_sequence().unwrap().iter().any(|s| {
            s["Action"].as_str() == Some("s3:ListBucket")
                && tagged(&s["Resource"]) == ("GetAtt".to_string(), &Value::from("FilesBucket.Arn"))
                && s.get("Condition").is_none()
        });
        assert!(
            lists,
            "{name} cannot tell a missing object from a forbidden one"
        );
    }
}

/// `files::purge` (a deleted file message, an aborted upload, the sweep) removes every stored
/// byte of a file: the multipart upload it was made with (completed ones keep their upload id,
/// S3 answers NoSuchUpload), every version of the object, and every version of its previews
/// (listed by exact key). Each role that runs it must be granted each of those calls, or the
/// deletion answers `bytes_removed: false` and the bytes wait for the hourly purge. The
/// stand-ins enforce no IAM, so only the template can show it.
#[test]
fn roles_that_purge_a_file_may_remove_all_its_bytes() {
    let t = template();
    let mut refused = Vec::new();
    let grants = |name: &str| -> Vec<(String, String, Vec<String>)> {
        let mut out = Vec::new();
        for s in t["Resources"][name]["Properties"]["Policies"][0]["Statement"]
            .as_sequence()
            .unwrap()
        {
            let prefixes = strings(&s["Condition"]["StringLike"]["s3:prefix"]);
            for action in strings(&s["Action"]) {
                for resource in strings(&s["Resource"]) {
                    out.push((action.clone(), resource, prefixes.clone()));
                }
            }
        }
        out
    };
    for name in [
        "PostMessageFunction",
        "UploadFileFunction",
        "SweepUploadsFunction",
    ] {
        let g = grants(name);
        let on_objects = |action: &str, under: &str| {
            g.iter()
                .any(|(a, r, _)| a == action && r.contains(&format!("FilesBucket.Arn}}/{under}/*")))
        };
        let lists_versions = |under: &str| {
            g.iter().any(|(a, _, p)| {
                a == "s3:ListBucketVersions" && p.iter().any(|p| p == &format!("{under}/*"))
            })
        };
        let mut missing = Vec::new();
        if !on_objects("s3:AbortMultipartUpload", "files") {
            missing.push("s3:AbortMultipartUpload on files/*");
        }
        for under in ["files", "previews"] {
            if !on_objects("s3:DeleteObjectVersion", under) {
                missing.push(if under == "files" {
                    "s3:DeleteObjectVersion on files/*"
                } else {
                    "s3:DeleteObjectVersion on previews/*"
                });
            }
            if !lists_versions(under) {
                missing.push(if under == "files" {
                    "s3:ListBucketVersions of files/*"
                } else {
                    "s3:ListBucketVersions of previews/*"
                });
            }
        }
        if !missing.is_empty() {
            refused.push((name, missing));
        }
    }
    assert!(refused.is_empty(), "cannot purge: {refused:?}");
}

/// The licences of what the functions link ship with every function: one layer whose content is
/// the generated notices (the same file the web client serves), on every function by Globals.
#[test]
fn every_function_ships_the_third_party_notices() {
    let t = template();
    let layer = &t["Resources"]["NoticesLayer"];
    assert_eq!(
        layer["Type"].as_str(),
        Some("AWS::Serverless::LayerVersion")
    );
    let content = layer["Properties"]["ContentUri"].as_str().unwrap();
    let dir = workspace_root().join(content);
    let notices = std::fs::read_to_string(dir.join("THIRD-PARTY-NOTICES")).unwrap();
    let served =
        std::fs::read_to_string(workspace_root().join("web/third-party-notices.txt")).unwrap();
    assert_eq!(notices, served, "scripts/notices writes both");
    assert!(notices.contains("aws-sdk-dynamodb") && notices.contains("Apache License"));
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(
        files.len(),
        1,
        "the layer holds the notices and nothing else"
    );
    let layers = serde_yaml::to_string(&t["Globals"]["Function"]["Layers"]).unwrap();
    assert!(layers.contains("NoticesLayer"), "{layers}");
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        assert!(
            f["Properties"]["Layers"].is_null(),
            "{id} would replace the Globals layers"
        );
    }
}

/// Read markers reach the fan-out from the members table's stream, with both images (so a
/// repeat is told from a move), filtered at the event source to the moves `PUT …/read` makes:
/// the value the filter names is the one the store writes.
#[test]
fn read_markers_reach_the_fanout_filtered_to_marks() {
    let t = template();
    let members = &t["Resources"]["MembersTable"]["Properties"];
    assert_eq!(
        members["StreamSpecification"]["StreamViewType"].as_str(),
        Some("NEW_AND_OLD_IMAGES")
    );
    assert!(
        members["GlobalSecondaryIndexes"].is_null(),
        "no index: every send updates the sender's member item"
    );
    let events = &t["Resources"]["PushFanoutFunction"]["Properties"]["Events"];
    let marks = &events["ReadMarkers"]["Properties"];
    assert_eq!(marks["StartingPosition"].as_str(), Some("LATEST"));
    assert!(serde_yaml::to_string(&marks["Stream"])
        .unwrap()
        .contains("MembersTable.StreamArn"));
    let filters = marks["FilterCriteria"]["Filters"].as_sequence().unwrap();
    assert_eq!(filters.len(), 1);
    let pattern: serde_json::Value =
        serde_json::from_str(filters[0]["Pattern"].as_str().unwrap()).unwrap();
    assert_eq!(
        pattern,
        serde_json::json!({
            "eventName": ["MODIFY"],
            "dynamodb": {"NewImage": {"read_via": {"S": [shared::infra::store::VIA_MARK]}}}
        })
    );
    // The messages stream keeps feeding it as before.
    assert!(
        serde_yaml::to_string(&events["Messages"]["Properties"]["Stream"])
            .unwrap()
            .contains("MessagesTable.StreamArn")
    );
}

/// A form upload goes to the same S3 endpoint as every other request for the bucket, in any
/// partition the template deploys to (it is written with `${AWS::Partition}` and
/// `${AWS::URLSuffix}`): in China regions that is `amazonaws.com.cn`; and with the FIPS
/// endpoints docs/operations.md offers, `s3-fips`. The stand-ins take an
/// endpoint override, so only a deployment can show it.
#[tokio::test]
async fn form_uploads_go_where_the_sdk_sends_the_buckets_requests() {
    use shared::domain::disposition::Disposition;
    let vars: std::collections::HashMap<&str, &str> = [
        ("CONVERSATIONS_TABLE", "c"),
        ("MEMBERS_TABLE", "m"),
        ("MESSAGES_TABLE", "msg"),
        ("FILES_TABLE", "f"),
        ("IDEMPOTENCY_TABLE", "i"),
        ("CONNECTIONS_TABLE", "w"),
        ("PROFILES_TABLE", "p"),
        ("INVITES_TABLE", "v"),
        ("FILE_SEARCH_TABLE", "s"),
        ("FILES_BUCKET", "groupshare-123456789012-stack"),
    ]
    .into_iter()
    .collect();
    let config =
        shared::config::Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())).unwrap();
    let host = |url: &str| url.split('/').nth(2).unwrap().to_string();
    let mut wrong = Vec::new();
    // (region, FIPS endpoints: AWS_USE_FIPS_ENDPOINT, which docs/operations.md offers)
    for (region, fips) in [
        ("eu-west-1", false),
        ("cn-north-1", false),
        ("us-east-1", true),
    ] {
        let credentials =
            aws_credential_types::Credentials::new("AKID", "secret", None, None, "test");
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new(region))
                .credentials_provider(credentials.clone())
                .use_fips(fips)
                .build(),
        );
        let blobs = shared::infra::blob::Blobs::new(
            s3,
            Some(aws_credential_types::provider::SharedCredentialsProvider::new(credentials)),
            &config,
        );
        let key = "files/r7/c1/f1";
        let form = blobs
            .presign_upload(key, 1, "text/plain", None)
            .await
            .unwrap();
        let get = blobs
            .presign_download(key, None, "a.txt", "text/plain", Disposition::Attachment)
            .await
            .unwrap();
        if host(&form.url) != host(&get.url) {
            wrong.push((region, fips, form.url, host(&get.url)));
        }
    }
    assert!(wrong.is_empty(), "form posted elsewhere: {wrong:?}");
}

/// Multipart uploads resume from the file id for as long as the client keeps asking for part
/// URLs (the hourly sweep ends only idle ones). The bucket's own abort rule is a backstop for
/// uploads whose record was lost, and must not cut off one still being sent: the default
/// largest file at 5 Mbit/s takes a day, and a laptop closed over a weekend pauses it.
#[test]
fn the_buckets_abort_rule_leaves_a_resumed_upload_a_week() {
    let t = template();
    let rules = t["Resources"]["FilesBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .unwrap();
    let aborts: Vec<u64> = rules
        .iter()
        .filter_map(|r| r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"].as_u64())
        .collect();
    assert!(!aborts.is_empty(), "a backstop for lost records exists");
    assert!(aborts.iter().all(|&days| days >= 7), "{aborts:?}");
}

/// The hosted web client cannot be framed by another site (its Join, Leave and Delete buttons
/// under someone else's page): only a response header can say so, not the page's `<meta>` CSP.
/// The local server sends the same header (web/tests/test_hardening.py).
#[test]
fn the_hosted_web_client_refuses_to_be_framed() {
    let t = template();
    let behaviour = &t["Resources"]["WebClientDistribution"]["Properties"]["DistributionConfig"]
        ["DefaultCacheBehavior"];
    let policy = match &behaviour["ResponseHeadersPolicyId"] {
        Value::Tagged(tag) if tag.tag == "Ref" => tag.value.as_str().unwrap(),
        other => panic!("no response headers policy of ours: {other:?}"),
    };
    let config = &t["Resources"][policy]["Properties"]["ResponseHeadersPolicyConfig"];
    let frames = &config["SecurityHeadersConfig"]["FrameOptions"];
    assert_eq!(frames["FrameOption"].as_str(), Some("DENY"), "{config:?}");
}

/// A preview job records `none` before decoding from its `MAX_ATTEMPTS`th delivery on, so bytes
/// that crash the function still settle; the queue must not give the job up before that, and
/// receives of polls Lambda throttled count too: Lambda's advice for SQS sources is at least 5.
#[test]
fn a_preview_job_settles_before_its_queue_gives_it_up() {
    let template = groupshare_local::template::workspace_template();
    let (_, redrive) =
        groupshare_local::template::queue_redelivery(&template, "PreviewQueue").unwrap();
    let gives_up_after = redrive
        .expect("PreviewQueue has a redrive policy")
        .max_receive_count;
    assert!(gives_up_after >= 5, "{gives_up_after}");
    assert!(shared::api::previews::MAX_ATTEMPTS < gives_up_after);
}

/// Previews (1 GB runs) scale no further than a parameter, at least SQS's minimum of 2, so a
/// burst of images cannot take the account's concurrency from the API's functions.
#[test]
fn previews_scale_no_further_than_their_parameter() {
    let t = template();
    let jobs = &t["Resources"]["MakePreviewFunction"]["Properties"]["Events"]["Jobs"];
    assert_eq!(jobs["Type"].as_str(), Some("SQS"));
    let cap = &jobs["Properties"]["ScalingConfig"]["MaximumConcurrency"];
    assert_eq!(
        tagged(cap),
        ("Ref".to_string(), &Value::from("PreviewMaxConcurrency"))
    );
    let parameter = &t["Parameters"]["PreviewMaxConcurrency"];
    assert!(parameter["MinValue"].as_u64().unwrap() >= 2);
    assert!(parameter["MaxValue"].as_u64().unwrap() <= 1000);
}

/// CloudWatch Logs refuses a metric transformation with both a default value and dimensions
/// (the stack would fail to create, which cfn-lint does not catch), and extracts dimensions
/// only from JSON or space-delimited patterns.
#[test]
fn metric_filters_are_ones_cloudwatch_logs_accepts() {
    let t = template();
    let filters: Vec<_> = of_type(&t, "AWS::Logs::MetricFilter").collect();
    assert!(!filters.is_empty());
    for (id, f) in filters {
        let p = &f["Properties"];
        for m in p["MetricTransformations"].as_sequence().unwrap() {
            let dimensions = !m["Dimensions"].is_null();
            assert!(!dimensions || m["DefaultValue"].is_null(), "{id}");
            if dimensions {
                let pattern = p["FilterPattern"].as_str().unwrap().trim();
                assert!(pattern.starts_with('{') || pattern.starts_with('['), "{id}");
            }
        }
    }
}

/// What the template and the runbooks point operators at exists: each alarm's
/// `docs/operations.md#anchor` is a heading there, and each stack output a runbook command
/// reads is one the template has.
#[test]
fn runbook_links_and_outputs_exist() {
    let t = template();
    let docs = std::fs::read_to_string(workspace_root().join("docs/operations.md")).unwrap();
    let anchors: BTreeSet<String> = docs
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| {
            h.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let text = groupshare_local::template::workspace_template();
    let links: Vec<&str> = text
        .split("docs/operations.md#")
        .skip(1)
        .map(|rest| {
            rest.split(|c: char| !(c.is_alphanumeric() || c == '-'))
                .next()
                .unwrap()
        })
        .collect();
    assert!(links.len() >= 10, "{links:?}");
    for link in links {
        assert!(anchors.contains(link), "docs/operations.md has no #{link}");
    }
    let outputs: Vec<&str> = docs
        .split("OutputKey=='")
        .skip(1)
        .map(|rest| rest.split('\'').next().unwrap())
        .collect();
    assert!(outputs.len() >= 2, "{outputs:?}");
    for output in outputs {
        assert!(
            t["Outputs"][output].is_mapping(),
            "no stack output {output}"
        );
    }
}

/// A WebSocket stage's access log is written with the region's API Gateway CloudWatch Logs
/// role (an account setting; unlike an HTTP API's), and the stage is refused where none is
/// set. By default the stack sets one, kept after the stack, before the stage is created.
#[test]
fn the_websocket_access_log_has_its_account_logs_role() {
    let t = template();
    let stage = &t["Resources"]["WebSocketStage"];
    assert!(stage["Properties"]["AccessLogSettings"].is_mapping());
    let account = &t["Resources"]["ApiGatewayAccount"];
    let role = &t["Resources"]["ApiGatewayCloudWatchRole"];
    assert_eq!(account["Type"].as_str(), Some("AWS::ApiGateway::Account"));
    let arn = serde_yaml::to_string(&account["Properties"]["CloudWatchRoleArn"]).unwrap();
    assert!(arn.contains("ApiGatewayCloudWatchRole.Arn"), "{arn}");
    let role_text = serde_yaml::to_string(role).unwrap();
    assert!(role_text.contains("apigateway.amazonaws.com"));
    assert!(role_text.contains("AmazonAPIGatewayPushToCloudWatchLogs"));
    for r in [account, role] {
        assert_eq!(r["Condition"].as_str(), Some("CreateApiGatewayLogsRole"));
        assert_eq!(r["DeletionPolicy"].as_str(), Some("Retain"));
    }
    assert_eq!(
        t["Parameters"]["ApiGatewayLogsRole"]["Default"].as_str(),
        Some("create")
    );
    // The stage names the account setting (under the same condition), so it is created after.
    let (tag, args) = tagged(&stage["Properties"]["Description"]);
    assert_eq!(tag, "If");
    assert_eq!(args[0].as_str(), Some("CreateApiGatewayLogsRole"));
    assert!(serde_yaml::to_string(&args[1])
        .unwrap()
        .contains("${ApiGatewayAccount}"));
}

/// A push failure that is no Lambda error (records retried because who receives them could not
/// be read, frames the management API refused) still raises PushErrorsAlarm: its metric filters
/// match the fan-out's line as the functions' JSON logging writes it, and read its numbers.
#[test]
fn push_failures_in_the_fanout_log_reach_the_push_alarm() {
    use groupshare_tests::CapturedLog;
    use shared::infra::push::fanout::Report;
    let captured = CapturedLog::default();
    let writer = captured.clone();
    let level = tracing::level_filters::LevelFilter::INFO;
    let subscriber = shared::edge::logging::subscriber(true, level, move || writer.clone());
    let report = Report {
        sent: 5,
        failed: 2,
        ..Report::default()
    };
    tracing::subscriber::with_default(subscriber, || push_fanout::log_batch(9, &report, 3));
    let line: serde_json::Value = serde_json::from_str(captured.text().trim()).unwrap();
    let at = |path: &str| -> serde_json::Value {
        let pointer = format!("/{}", path.trim_start_matches("$.").replace('.', "/"));
        line.pointer(&pointer).cloned().unwrap_or_default()
    };

    let t = template();
    let mut wanted = BTreeSet::from([("PushRecordsRetried", 3), ("PushPostsFailed", 2)]);
    for (id, f) in of_type(&t, "AWS::Logs::MetricFilter") {
        let p = &f["Properties"];
        let group = serde_yaml::to_string(&p["LogGroupName"]).unwrap();
        if group.contains("PushFanoutLogGroup") {
            // `{ $.a = "text" && $.b > 0 }`: each condition holds on the line.
            let pattern = p["FilterPattern"].as_str().unwrap();
            let inner = pattern.trim().trim_start_matches('{').trim_end_matches('}');
            for condition in inner.split("&&") {
                let condition = condition.trim();
                if let Some((path, text)) = condition.split_once(" = ") {
                    assert_eq!(at(path), text.trim_matches('"'), "{id}: {condition}");
                } else {
                    let (path, floor) = condition.split_once(" > ").unwrap();
                    let floor: f64 = floor.parse().unwrap();
                    assert!(at(path).as_f64().unwrap() > floor, "{id}: {condition}");
                }
            }
            let m = &p["MetricTransformations"][0];
            let name = m["MetricName"].as_str().unwrap();
            let value = at(m["MetricValue"].as_str().unwrap()).as_u64().unwrap();
            assert!(
                wanted.remove(&(name, value as usize)),
                "{id}: {name} = {value}"
            );
            let alarm = serde_yaml::to_string(&t["Resources"]["PushErrorsAlarm"]).unwrap();
            assert!(alarm.contains(&format!("MetricName: {name}")), "{name}");
        }
    }
    assert!(wanted.is_empty(), "no metric filter for {wanted:?}");
}
