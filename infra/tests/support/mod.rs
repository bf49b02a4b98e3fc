//! A fake Pulumi engine speaking the real gRPC protocol, and a runner for the built program.
//!
//! Why: there is no Pulumi CLI and no AWS account here, but the program's contract with Pulumi
//! is a gRPC conversation (`pulumirpc.ResourceMonitor` and `pulumirpc.Engine`). These tests
//! host both services on 127.0.0.1:0 with the server traits of `pulumi_gestalt_proto`, start the
//! program binary the way the language host does (the `PULUMI_*` variables), record every
//! `RegisterResource` and the stack outputs, and answer like Pulumi's mocks: in preview with the
//! inputs only (computed outputs unknown), in update with the inputs plus plausible computed
//! outputs (ids, ARNs, endpoints) so the program's derived values can be checked.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod graph;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use prost_types::value::Kind;
use pulumi_gestalt_proto::pulumi::pulumirpc::engine_server::{Engine, EngineServer};
use pulumi_gestalt_proto::pulumi::pulumirpc::resource_monitor_server::{
    ResourceMonitor, ResourceMonitorServer,
};
use pulumi_gestalt_proto::pulumi::pulumirpc::{
    CallResponse, Callback, GetRootResourceRequest, GetRootResourceResponse, InvokeResponse,
    LogRequest, ReadResourceRequest, ReadResourceResponse, RegisterErrorHookRequest,
    RegisterPackageRequest, RegisterPackageResponse, RegisterResourceHookRequest,
    RegisterResourceOutputsRequest, RegisterResourceRequest, RegisterResourceResponse,
    RequirePulumiVersionRequest, RequirePulumiVersionResponse, ResourceCallRequest,
    ResourceInvokeRequest, SetRootResourceRequest, SetRootResourceResponse, StartDebuggingRequest,
    SupportsFeatureRequest, SupportsFeatureResponse,
};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::codegen::tokio_stream::StreamExt;
use tonic::codegen::tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic::{Request, Response, Status};

pub const PROJECT: &str = "wspush";
pub const STACK: &str = "dev";
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
pub const API_ID: &str = "a1b2c3d4e5";
/// The ids the engine answers for a Cognito user pool (`{region}_{suffix}`) and its app client.
pub const USER_POOL_ID: &str = "us-east-1_AbCdEf123";
pub const USER_POOL_CLIENT_ID: &str = "1example23456789abcdefghij";
/// What gestalt sends for a value that is not known yet (preview).
pub const UNKNOWN: &str = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
/// Pulumi's signature key and the secret signature.
pub const SIG_KEY: &str = "4dabf18193072939515e22adb298388d";
pub const SECRET_SIG: &str = "1b47061264138c4ac30d75fd1eb44270";

/// Preview (`pulumi preview`, `PULUMI_DRY_RUN=true`) or update (`pulumi up`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Preview,
    Update,
}

/// One `RegisterResource` call as the engine received it.
#[derive(Clone, Debug)]
pub struct Registered {
    pub type_: String,
    pub name: String,
    pub custom: bool,
    pub inputs: Value,
    /// What the engine answered: the id and the output object.
    pub id: String,
    pub outputs: Value,
    pub dependencies: Vec<String>,
    pub property_dependencies: usize,
}

impl Registered {
    /// An input by its wire name, `Null` when absent.
    pub fn input(&self, key: &str) -> &Value {
        self.inputs.get(key).unwrap_or(&Value::Null)
    }

    /// A string input; panics with the resource's name when it is not a string.
    pub fn str(&self, key: &str) -> &str {
        self.input(key).as_str().unwrap_or_else(|| {
            panic!(
                "{} {}: `{key}` is {:?}",
                self.type_,
                self.name,
                self.input(key)
            )
        })
    }

    /// A string input holding JSON (policies, event patterns), parsed.
    pub fn json(&self, key: &str) -> Value {
        serde_json::from_str(self.str(key))
            .unwrap_or_else(|e| panic!("{} {}: `{key}` is not JSON: {e}", self.type_, self.name))
    }
}

#[derive(Default)]
struct Recorded {
    resources: Vec<Registered>,
    outputs: Option<Value>,
    root: String,
    logs: Vec<String>,
}

/// What one run of the program did.
pub struct Run {
    pub success: bool,
    pub stderr: String,
    pub stdout: String,
    pub resources: Vec<Registered>,
    /// The stack outputs (`RegisterResourceOutputs` of the stack), if the program got that far.
    pub outputs: Option<Value>,
}

impl Run {
    /// Every registered resource but the stack itself.
    pub fn custom(&self) -> Vec<&Registered> {
        self.resources.iter().filter(|r| r.custom).collect()
    }

    pub fn of_type(&self, type_: &str) -> Vec<&Registered> {
        self.resources.iter().filter(|r| r.type_ == type_).collect()
    }

    pub fn named(&self, type_: &str, name: &str) -> &Registered {
        self.resources
            .iter()
            .find(|r| r.type_ == type_ && r.name == name)
            .unwrap_or_else(|| panic!("no {type_} named {name}; registered: {:?}", self.names()))
    }

    /// `(type, name)` of every resource, sorted.
    pub fn names(&self) -> Vec<(String, String)> {
        let mut names: Vec<_> = self
            .custom()
            .into_iter()
            .map(|r| (r.type_.clone(), r.name.clone()))
            .collect();
        names.sort();
        names
    }

    /// How many resources of each type.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in self.custom() {
            *counts.entry(r.type_.clone()).or_default() += 1;
        }
        counts
    }

    pub fn output(&self, key: &str) -> &Value {
        self.outputs
            .as_ref()
            .and_then(|o| o.get(key))
            .unwrap_or_else(|| panic!("no stack output {key}: {:?}", self.outputs))
    }
}

/// Runs the program binary against a fresh fake engine with the given configuration
/// (`key` -> value in the project namespace; `secret_keys` are sent as secrets).
pub async fn run_program(mode: Mode, config: &[(&str, &str)], secret_keys: &[&str]) -> Run {
    run_program_with(mode, config, secret_keys, Overrides::new()).await
}

/// [`run_program`], with the engine answering `overrides` for the named resources.
pub async fn run_program_with(
    mode: Mode,
    config: &[(&str, &str)],
    secret_keys: &[&str],
    overrides: Overrides,
) -> Run {
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    let monitor_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind monitor");
    let engine_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind engine");
    let monitor_addr = monitor_listener.local_addr().expect("monitor addr");
    let engine_addr = engine_listener.local_addr().expect("engine addr");
    let (stop_monitor, monitor_stopped) = oneshot::channel::<()>();
    let (stop_engine, engine_stopped) = oneshot::channel::<()>();
    let monitor = tokio::spawn(
        Server::builder()
            .add_service(ResourceMonitorServer::new(FakeMonitor {
                recorded: recorded.clone(),
                mode,
                overrides,
            }))
            .serve_with_incoming_shutdown(no_delay(monitor_listener), async {
                let _ = monitor_stopped.await;
            }),
    );
    let engine = tokio::spawn(
        Server::builder()
            .add_service(EngineServer::new(FakeEngine {
                recorded: recorded.clone(),
            }))
            .serve_with_incoming_shutdown(no_delay(engine_listener), async {
                let _ = engine_stopped.await;
            }),
    );

    let config_json: Map<String, Value> = config
        .iter()
        .map(|(k, v)| {
            let key = if k.contains(':') {
                k.to_string()
            } else {
                format!("{PROJECT}:{k}")
            };
            (key, Value::String(v.to_string()))
        })
        .collect();
    let secret_json: Vec<String> = secret_keys
        .iter()
        .map(|k| format!("{PROJECT}:{k}"))
        .collect();
    let output = tokio::task::spawn_blocking(move || {
        launch(mode, monitor_addr, engine_addr, config_json, secret_json)
    })
    .await
    .expect("launch task");

    // Every server a test starts stops here, whatever the program did.
    let _ = stop_monitor.send(());
    let _ = stop_engine.send(());
    monitor
        .await
        .expect("monitor task")
        .expect("monitor server");
    engine.await.expect("engine task").expect("engine server");

    let recorded = recorded.lock().expect("recorded");
    Run {
        success: output.status.success(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        resources: recorded.resources.clone(),
        outputs: recorded.outputs.clone(),
    }
}

/// Accepted connections with Nagle's algorithm off: the program sends one small gRPC request per
/// resource and waits for the answer, and delayed ACKs would add ~40 ms to each.
fn no_delay(
    listener: TcpListener,
) -> impl tonic::codegen::tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    TcpListenerStream::new(listener).map(|stream| {
        if let Ok(stream) = &stream {
            let _ = stream.set_nodelay(true);
        }
        stream
    })
}

fn launch(
    mode: Mode,
    monitor: SocketAddr,
    engine: SocketAddr,
    config: Map<String, Value>,
    secret_keys: Vec<String>,
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_wspush-infra"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PULUMI_MONITOR", monitor.to_string())
        .env("PULUMI_ENGINE", engine.to_string())
        .env("PULUMI_PROJECT", PROJECT)
        .env("PULUMI_STACK", STACK)
        .env("PULUMI_ORGANIZATION", "organization")
        .env("PULUMI_ROOT_DIRECTORY", env!("CARGO_MANIFEST_DIR"))
        .env(
            "PULUMI_DRY_RUN",
            if mode == Mode::Preview {
                "true"
            } else {
                "false"
            },
        )
        .env("PULUMI_CONFIG", Value::Object(config).to_string())
        .env("PULUMI_CONFIG_SECRET_KEYS", json!(secret_keys).to_string())
        .output()
        .expect("start the program binary")
}

// ---- protobuf <-> JSON ----------------------------------------------------------------------

pub fn to_json(value: &prost_types::Value) -> Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(n)) => json!(n),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::StructValue(s)) => struct_to_json(s),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(to_json).collect()),
    }
}

pub fn struct_to_json(s: &prost_types::Struct) -> Value {
    Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), to_json(v)))
            .collect(),
    )
}

fn from_json(value: &Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.iter().map(from_json).collect(),
        }),
        Value::Object(o) => Kind::StructValue(object_to_struct(o)),
    };
    prost_types::Value { kind: Some(kind) }
}

fn object_to_struct(o: &Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect(),
    }
}

/// The plain value of a secret-wrapped value (and the value itself when it is not a secret).
pub fn unsecret(value: &Value) -> &Value {
    if value.get(SIG_KEY).and_then(Value::as_str) == Some(SECRET_SIG) {
        &value["value"]
    } else {
        value
    }
}

pub fn is_secret(value: &Value) -> bool {
    value.get(SIG_KEY).and_then(Value::as_str) == Some(SECRET_SIG)
}

// ---- the fake services ----------------------------------------------------------------------

struct FakeMonitor {
    recorded: Arc<Mutex<Recorded>>,
    mode: Mode,
    overrides: Overrides,
}

/// Computed outputs to answer differently for a resource, by logical name (update mode): the
/// key `id` replaces the resource's id, any other key the output of that name. This is how a
/// test makes the engine report what AWS would after a change (a replaced integration has a new
/// id; an authorizer updated in place reports its new URI) and checks what the program derives.
pub type Overrides = HashMap<String, Map<String, Value>>;

struct FakeEngine {
    recorded: Arc<Mutex<Recorded>>,
}

fn urn(type_: &str, name: &str) -> String {
    format!("urn:pulumi:{STACK}::{PROJECT}::{type_}::{name}")
}

/// Plausible computed outputs of an update, so derived values (ARNs in policies, endpoints in
/// environment variables) take the shapes they have in AWS.
fn computed_outputs(
    type_: &str,
    name: &str,
    inputs: &Map<String, Value>,
) -> (String, Map<String, Value>) {
    let mut object = inputs.clone();
    let given = |key: &str| inputs.get(key).and_then(Value::as_str).map(str::to_string);
    let physical = given("name")
        .or_else(|| given("namePrefix").map(|p| format!("{p}0001")))
        .unwrap_or_else(|| format!("{name}-0001"));
    // The provider autonames what has no explicit name.
    object.insert("name".to_string(), json!(physical));
    let mut set = |key: &str, value: Value| {
        object.insert(key.to_string(), value);
    };
    let arn_prefix = |service: &str| format!("arn:aws:{service}:{REGION}:{ACCOUNT}");
    let id = match type_ {
        "aws:dynamodb/table:Table" => {
            set(
                "arn",
                json!(format!("{}:table/{physical}", arn_prefix("dynamodb"))),
            );
            physical.clone()
        }
        "aws:apigatewayv2/api:Api" => {
            set(
                "apiEndpoint",
                json!(format!("wss://{API_ID}.execute-api.{REGION}.amazonaws.com")),
            );
            set(
                "executionArn",
                json!(format!("{}:{API_ID}", arn_prefix("execute-api"))),
            );
            API_ID.to_string()
        }
        "aws:apigatewayv2/stage:Stage" => {
            set(
                "invokeUrl",
                json!(format!(
                    "wss://{API_ID}.execute-api.{REGION}.amazonaws.com/{physical}"
                )),
            );
            physical.clone()
        }
        "aws:lambda/function:Function" => {
            let arn = format!("{}:function:{physical}", arn_prefix("lambda"));
            set(
                "invokeArn",
                json!(format!(
                    "arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"
                )),
            );
            set("arn", json!(arn));
            physical.clone()
        }
        "aws:cloudwatch/logGroup:LogGroup" => {
            set(
                "arn",
                json!(format!("{}:log-group:{physical}", arn_prefix("logs"))),
            );
            physical.clone()
        }
        "aws:iam/role:Role" => {
            set(
                "arn",
                json!(format!("arn:aws:iam::{ACCOUNT}:role/{physical}")),
            );
            physical.clone()
        }
        "aws:secretsmanager/secret:Secret" => {
            let arn = format!("{}:secret:{physical}-AbCdEf", arn_prefix("secretsmanager"));
            set("arn", json!(arn));
            arn
        }
        "aws:sqs/queue:Queue" => {
            let url = format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{physical}");
            set("arn", json!(format!("{}:{physical}", arn_prefix("sqs"))));
            set("url", json!(url));
            url
        }
        "aws:cloudwatch/eventRule:EventRule" => {
            set(
                "arn",
                json!(format!("{}:rule/{physical}", arn_prefix("events"))),
            );
            physical.clone()
        }
        "aws:sns/topic:Topic" => {
            let arn = format!("{}:{physical}", arn_prefix("sns"));
            set("arn", json!(arn));
            arn
        }
        "aws:acm/certificate:Certificate" => {
            let domain = given("domainName").unwrap_or_default();
            let arn = format!("{}:certificate/0000-1111", arn_prefix("acm"));
            set("arn", json!(arn));
            set(
                "domainValidationOptions",
                json!([{
                    "domainName": domain,
                    "resourceRecordName": format!("_abc.{domain}."),
                    "resourceRecordType": "CNAME",
                    "resourceRecordValue": "_def.acm-validations.aws.",
                }]),
            );
            arn
        }
        "aws:route53/record:Record" => {
            set(
                "fqdn",
                json!(given("name").unwrap_or_default().trim_end_matches('.')),
            );
            format!("{name}-record")
        }
        "aws:cognito/userPool:UserPool" => {
            set(
                "arn",
                json!(format!(
                    "{}:userpool/{USER_POOL_ID}",
                    arn_prefix("cognito-idp")
                )),
            );
            set(
                "endpoint",
                json!(format!("cognito-idp.{REGION}.amazonaws.com/{USER_POOL_ID}")),
            );
            USER_POOL_ID.to_string()
        }
        "aws:cognito/userPoolClient:UserPoolClient" => USER_POOL_CLIENT_ID.to_string(),
        "aws:apigatewayv2/domainName:DomainName" => {
            let mut configuration = inputs
                .get("domainNameConfiguration")
                .cloned()
                .unwrap_or_else(|| json!({}));
            configuration["targetDomainName"] =
                json!(format!("d-0123456789.execute-api.{REGION}.amazonaws.com"));
            configuration["hostedZoneId"] = json!("Z1UJRXOUMOOFQ8");
            set("domainNameConfiguration", configuration);
            given("domainName").unwrap_or_default()
        }
        _ => format!("{name}-id"),
    };
    (id, object)
}

#[tonic::async_trait]
impl ResourceMonitor for FakeMonitor {
    async fn supports_feature(
        &self,
        _request: Request<SupportsFeatureRequest>,
    ) -> Result<Response<SupportsFeatureResponse>, Status> {
        Ok(Response::new(SupportsFeatureResponse {
            has_support: false,
        }))
    }

    async fn invoke(
        &self,
        _: Request<ResourceInvokeRequest>,
    ) -> Result<Response<InvokeResponse>, Status> {
        Err(Status::unimplemented("the program makes no invokes"))
    }

    async fn call(
        &self,
        _: Request<ResourceCallRequest>,
    ) -> Result<Response<CallResponse>, Status> {
        Err(Status::unimplemented("call"))
    }

    async fn read_resource(
        &self,
        _: Request<ReadResourceRequest>,
    ) -> Result<Response<ReadResourceResponse>, Status> {
        Err(Status::unimplemented("read_resource"))
    }

    async fn register_resource(
        &self,
        request: Request<RegisterResourceRequest>,
    ) -> Result<Response<RegisterResourceResponse>, Status> {
        let request = request.into_inner();
        let inputs = request
            .object
            .as_ref()
            .map(struct_to_json)
            .unwrap_or_else(|| json!({}));
        let urn = urn(&request.r#type, &request.name);
        let (id, object) = match (self.mode, request.custom, inputs.as_object()) {
            (_, false, _) | (_, _, None) => (String::new(), Map::new()),
            // In preview, computed outputs are unknown: only the checked inputs come back (set
            // values, plus the name the provider's autonaming picks), everything else is absent,
            // which gestalt reads as unknown.
            (Mode::Preview, true, Some(inputs)) => {
                let mut object: Map<String, Value> = inputs
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                object
                    .entry("name")
                    .or_insert_with(|| json!(format!("{}-0001", request.name)));
                (String::new(), object)
            }
            (Mode::Update, true, Some(inputs)) => {
                let (mut id, mut object) = computed_outputs(&request.r#type, &request.name, inputs);
                for (key, value) in self.overrides.get(&request.name).into_iter().flatten() {
                    match (key.as_str(), value.as_str()) {
                        ("id", Some(new_id)) => id = new_id.to_string(),
                        _ => {
                            object.insert(key.clone(), value.clone());
                        }
                    }
                }
                (id, object)
            }
        };
        self.recorded
            .lock()
            .expect("recorded")
            .resources
            .push(Registered {
                type_: request.r#type.clone(),
                name: request.name.clone(),
                custom: request.custom,
                inputs,
                id: id.clone(),
                outputs: Value::Object(object.clone()),
                dependencies: request.dependencies.clone(),
                property_dependencies: request.property_dependencies.len(),
            });
        Ok(Response::new(RegisterResourceResponse {
            urn,
            id,
            object: Some(object_to_struct(&object)),
            ..Default::default()
        }))
    }

    async fn register_resource_outputs(
        &self,
        request: Request<RegisterResourceOutputsRequest>,
    ) -> Result<Response<()>, Status> {
        let request = request.into_inner();
        let outputs = request.outputs.as_ref().map(struct_to_json);
        self.recorded.lock().expect("recorded").outputs = outputs;
        Ok(Response::new(()))
    }

    async fn register_stack_transform(&self, _: Request<Callback>) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("register_stack_transform"))
    }

    async fn register_stack_invoke_transform(
        &self,
        _: Request<Callback>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("register_stack_invoke_transform"))
    }

    async fn register_resource_hook(
        &self,
        _: Request<RegisterResourceHookRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("register_resource_hook"))
    }

    async fn register_error_hook(
        &self,
        _: Request<RegisterErrorHookRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("register_error_hook"))
    }

    async fn register_package(
        &self,
        _: Request<RegisterPackageRequest>,
    ) -> Result<Response<RegisterPackageResponse>, Status> {
        Err(Status::unimplemented("register_package"))
    }

    async fn signal_and_wait_for_shutdown(&self, _: Request<()>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }
}

#[tonic::async_trait]
impl Engine for FakeEngine {
    async fn log(&self, request: Request<LogRequest>) -> Result<Response<()>, Status> {
        let message = request.into_inner().message;
        self.recorded.lock().expect("recorded").logs.push(message);
        Ok(Response::new(()))
    }

    async fn get_root_resource(
        &self,
        _: Request<GetRootResourceRequest>,
    ) -> Result<Response<GetRootResourceResponse>, Status> {
        let urn = self.recorded.lock().expect("recorded").root.clone();
        Ok(Response::new(GetRootResourceResponse { urn }))
    }

    async fn set_root_resource(
        &self,
        request: Request<SetRootResourceRequest>,
    ) -> Result<Response<SetRootResourceResponse>, Status> {
        self.recorded.lock().expect("recorded").root = request.into_inner().urn;
        Ok(Response::new(SetRootResourceResponse {}))
    }

    async fn start_debugging(
        &self,
        _: Request<StartDebuggingRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("start_debugging"))
    }

    async fn require_pulumi_version(
        &self,
        _: Request<RequirePulumiVersionRequest>,
    ) -> Result<Response<RequirePulumiVersionResponse>, Status> {
        Ok(Response::new(RequirePulumiVersionResponse {}))
    }
}

/// The configuration of a minimal valid stack (the secret and the subscribe policy every
/// deployment must set), plus `extra`; a key in `extra` replaces the base's.
pub fn base_config<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut config = vec![
        ("aws:region", REGION),
        ("JwtSecret", "test-signing-secret"),
        ("SubscribePolicy", "*"),
    ];
    config.retain(|(key, _)| !extra.iter().any(|(k, _)| k == key));
    config.extend_from_slice(extra);
    config
}

/// `HashMap` of a JSON object of strings (environment variables, triggers).
pub fn string_map(value: &Value) -> HashMap<String, String> {
    value
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}
