//! The server's HTTP API (`/v1/...`).

use crate::Error;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use ureq::Agent;

/// Largest response body read (SQL over big tables).
const MAX_BODY: u64 = 512 * 1024 * 1024;

/// A client of one server's HTTP API.
#[derive(Debug, Clone)]
pub struct HttpApi {
    base_url: String,
    agent: Agent,
}

/// A fresh anonymous identity and its long-lived token.
#[derive(Debug, Clone, Deserialize)]
pub struct NewIdentity {
    /// 64 hex digits.
    pub identity: String,
    /// JWT without expiry.
    pub token: String,
}

/// How a reducer call over HTTP ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// HTTP 200: the transaction committed.
    Committed,
    /// HTTP 530: the reducer returned `Err(message)`.
    Failed(String),
}

/// One statement's result from `/sql`.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlResult {
    /// Column names in order.
    pub columns: Vec<String>,
    /// Rows as positional JSON values (`Option`s appear as `{"some": v}` / `{"none": []}`).
    pub rows: Vec<Vec<Value>>,
}

impl SqlResult {
    /// The value of `column` in `row`, if both exist.
    pub fn get<'a>(&self, row: &'a [Value], column: &str) -> Option<&'a Value> {
        let index = self.columns.iter().position(|c| c == column)?;
        row.get(index)
    }
}

impl HttpApi {
    /// A client for the server at `base_url` (`http://host:port`, no trailing slash).
    pub fn new(base_url: &str) -> Self {
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether `GET /v1/ping` answers 200.
    pub fn ping(&self) -> bool {
        self.agent
            .get(format!("{}/v1/ping", self.base_url))
            .call()
            .is_ok_and(|r| r.status() == 200)
    }

    /// `POST /v1/identity`: a new anonymous identity.
    pub fn new_identity(&self) -> Result<NewIdentity, Error> {
        let what = "creating an identity";
        let request = self.agent.post(format!("{}/v1/identity", self.base_url));
        let (status, body) = read(what, request.send_empty())?;
        expect_status(what, status, &body, 200)?;
        parse_json(what, &body)
    }

    /// `PUT /v1/database/NAME`: publishes (or updates) a module as the owner of `token`.
    /// `clear` wipes existing data.
    pub fn publish(
        &self,
        database: &str,
        wasm: &[u8],
        token: &str,
        clear: bool,
    ) -> Result<Value, Error> {
        let what = format!("publishing module {database}");
        let url = format!("{}/v1/database/{database}?clear={clear}", self.base_url);
        let request = self
            .agent
            .put(url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/wasm");
        let (status, body) = read(&what, request.send(wasm))?;
        expect_status(&what, status, &body, 200)?;
        parse_json(&what, &body)
    }

    /// `POST /v1/database/NAME/call/REDUCER` with a JSON array of arguments.
    pub fn call_reducer(
        &self,
        database: &str,
        reducer: &str,
        args: &Value,
        token: Option<&str>,
    ) -> Result<CallOutcome, Error> {
        let what = format!("calling {reducer}");
        let url = format!("{}/v1/database/{database}/call/{reducer}", self.base_url);
        let mut request = self
            .agent
            .post(url)
            .header("Content-Type", "application/json");
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let (status, body) = read(&what, request.send(args.to_string()))?;
        match status {
            200 => Ok(CallOutcome::Committed),
            530 => Ok(CallOutcome::Failed(body)),
            _ => Err(Error::Status { what, status, body }),
        }
    }

    /// Has the module owner (`owner_token`) make `identity_hex` (64 hex digits, `0x` optional)
    /// a reporter of the OnePulse module published as `database` (reducer `add_reporter`,
    /// idempotent). A refusal is an error with the module's message.
    pub fn add_reporter(
        &self,
        database: &str,
        owner_token: &str,
        identity_hex: &str,
    ) -> Result<(), Error> {
        let args = Value::Array(vec![identity_arg(identity_hex)]);
        match self.call_reducer(database, "add_reporter", &args, Some(owner_token))? {
            CallOutcome::Committed => Ok(()),
            CallOutcome::Failed(body) => Err(Error::Status {
                what: format!("making {identity_hex} a reporter"),
                status: 530,
                body,
            }),
        }
    }

    /// Calls an owner-only `reducer` of `database` with `args` as the module owner
    /// (`owner_token`). A refusal is an error with the module's message.
    pub fn call_as_owner(
        &self,
        database: &str,
        owner_token: &str,
        reducer: &str,
        args: &Value,
    ) -> Result<(), Error> {
        match self.call_reducer(database, reducer, args, Some(owner_token))? {
            CallOutcome::Committed => Ok(()),
            CallOutcome::Failed(body) => Err(Error::Status {
                what: format!("calling {reducer} {args} as the owner"),
                status: 530,
                body,
            }),
        }
    }

    /// Has the module owner make the OnePulse database `database` accept wallet-link messages
    /// from pages on this machine ([`LOOPBACK_HOSTS`], any port: `add_link_domain`) naming
    /// this database on this machine (`add_link_server("{host}/{database}")`). A new database
    /// accepts none; development and test setups call this after publishing. Idempotent.
    pub fn allow_loopback_links(&self, database: &str, owner_token: &str) -> Result<(), Error> {
        for host in LOOPBACK_HOSTS {
            self.call_as_owner(
                database,
                owner_token,
                "add_link_domain",
                &serde_json::json!([host]),
            )?;
            let server = format!("{host}/{database}");
            self.call_as_owner(
                database,
                owner_token,
                "add_link_server",
                &serde_json::json!([server]),
            )?;
        }
        Ok(())
    }

    /// Has the module owner run the OnePulse module's pending migrations (reducer `migrate`,
    /// idempotent): after publishing over an existing database.
    pub fn migrate(&self, database: &str, owner_token: &str) -> Result<(), Error> {
        self.call_as_owner(database, owner_token, "migrate", &serde_json::json!([]))
    }

    /// `POST /v1/database/NAME/sql`: runs SQL and returns one result per statement.
    pub fn sql(
        &self,
        database: &str,
        query: &str,
        token: Option<&str>,
    ) -> Result<Vec<SqlResult>, Error> {
        #[derive(Deserialize)]
        struct Statement {
            schema: Schema,
            rows: Vec<Vec<Value>>,
        }
        #[derive(Deserialize)]
        struct Schema {
            elements: Vec<Element>,
        }
        #[derive(Deserialize)]
        struct Element {
            name: Value,
        }
        let what = format!("running SQL {query:?}");
        let url = format!("{}/v1/database/{database}/sql", self.base_url);
        let mut request = self.agent.post(url).header("Content-Type", "text/plain");
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let (status, body) = read(&what, request.send(query))?;
        expect_status(&what, status, &body, 200)?;
        let statements: Vec<Statement> = parse_json(&what, &body)?;
        Ok(statements
            .into_iter()
            .map(|s| SqlResult {
                columns: s
                    .schema
                    .elements
                    .into_iter()
                    .map(|e| match e.name {
                        Value::Object(map) => map
                            .get("some")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        Value::String(s) => s,
                        _ => String::new(),
                    })
                    .collect(),
                rows: s.rows,
            })
            .collect())
    }

    /// `GET /v1/database/NAME/schema?version=9`: the module's definition (`RawModuleDefV9` in
    /// SATS' JSON: typespace, tables, reducers…).
    pub fn schema(&self, database: &str) -> Result<Value, Error> {
        let what = format!("reading the schema of {database}");
        let url = format!("{}/v1/database/{database}/schema?version=9", self.base_url);
        let (status, body) = read(&what, self.agent.get(url).call())?;
        expect_status(&what, status, &body, 200)?;
        parse_json(&what, &body)
    }
}

fn read(
    what: &str,
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<(u16, String), Error> {
    let transport = |source| Error::Transport {
        what: what.to_owned(),
        source: Box::new(source),
    };
    let mut response = result.map_err(transport)?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
        .map_err(transport)?;
    Ok((status, body))
}

fn expect_status(what: &str, status: u16, body: &str, expected: u16) -> Result<(), Error> {
    if status == expected {
        Ok(())
    } else {
        Err(Error::Status {
            what: what.to_owned(),
            status,
            body: body.to_owned(),
        })
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, body: &str) -> Result<T, Error> {
    serde_json::from_str(body).map_err(|source| Error::Json {
        what: what.to_owned(),
        body: body.chars().take(500).collect(),
        source,
    })
}

/// This machine's host names as link rules: `localhost`, `127.0.0.1`, `[::1]`.
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// An `Identity` reducer argument in SpacetimeDB 1.2's JSON: the product
/// `{"__identity__": "0x<64 hex digits>"}` (the u256 must be `0x`-prefixed hex; without the
/// prefix it is read as a decimal number). `identity_hex` may carry the prefix or not.
pub fn identity_arg(identity_hex: &str) -> Value {
    let digits = identity_hex.trim_start_matches("0x");
    serde_json::json!({ "__identity__": format!("0x{digits}") })
}
