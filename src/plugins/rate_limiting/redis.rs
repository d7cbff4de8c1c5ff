//! The `redis` policy's client: Kong's counting script (INCR, EXPIRE on the first count, the
//! count before this request back) for every window in one pipelined round trip, on pooled
//! connections. A few dozen lines of RESP over tokio's TcpStream rather than the `redis`
//! crate: the plugin needs AUTH, SELECT and EVAL with integer replies, and the crate would add
//! a connection manager, URL parsing and a dozen transitive crates to every build for that.
//! No lock is held across an await: the pool is a `std` mutex around idle connections.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Kong's script, so Kong nodes and these count the same keys the same way.
const SCRIPT: &str = r#"local cache_key, expiration = KEYS[1], ARGV[1]
local result_incr = redis.call("incr", cache_key)
if result_incr == 1 then
  redis.call("expire", cache_key, expiration)
end
return result_incr - 1"#;

/// Idle connections kept per Redis (more concurrent requests open more, then close them).
const IDLE_MAX: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    pub host: String,
    pub port: u16,
    /// For the whole exchange: connecting, sending and reading.
    pub timeout: Duration,
    pub username: Option<String>,
    pub password: Option<String>,
    pub database: i64,
}

impl RedisConfig {
    /// The plugin's `redis` record.
    pub fn from_config(v: &Value) -> Result<RedisConfig, String> {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        if v.get("ssl").and_then(Value::as_bool) == Some(true) {
            return Err("Redis over TLS (redis.ssl) is not supported by this build".into());
        }
        let host = s("host").ok_or("redis.host is required for the redis policy")?;
        let port = v.get("port").and_then(Value::as_u64).unwrap_or(6379);
        let timeout = v.get("timeout").and_then(Value::as_u64).unwrap_or(2000);
        Ok(RedisConfig {
            host,
            port: u16::try_from(port).map_err(|_| format!("bad redis.port {port}"))?,
            timeout: Duration::from_millis(timeout.max(1)),
            username: s("username"),
            password: s("password"),
            database: v.get("database").and_then(Value::as_i64).unwrap_or(0),
        })
    }

    /// Where the client is kept in the plugin runtime: one per distinct Redis and login.
    pub fn runtime_key(&self) -> String {
        format!("rate-limiting:redis:{self:?}")
    }
}

type Conn = BufReader<TcpStream>;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// Connecting, sending or reading failed, or the reply made no sense.
    #[error("{0}")]
    Connection(String),
    /// Redis answered with an error of its own.
    #[error("Redis: {0}")]
    Reply(String),
}

pub struct Redis {
    cfg: RedisConfig,
    idle: Mutex<Vec<Conn>>,
    /// Whether the last exchange failed: failures are logged when Redis goes away and again
    /// when it is back, not once per request.
    down: AtomicBool,
}

enum Reply {
    Ok,
    Int(i64),
    Other,
}

impl Redis {
    pub fn new(cfg: RedisConfig) -> Redis {
        Redis {
            cfg,
            idle: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
        }
    }

    /// Counts one request in each `(key, window length)`; each key's count before it.
    pub async fn increment(&self, keys: &[(String, i64)]) -> Result<Vec<i64>, RedisError> {
        let outcome = match tokio::time::timeout(self.cfg.timeout, self.exchange(keys)).await {
            Ok(r) => r,
            Err(_) => Err(RedisError::Connection(format!(
                "timed out after {:?}",
                self.cfg.timeout
            ))),
        };
        match &outcome {
            Ok(_) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(redis.host = %self.cfg.host, redis.port = self.cfg.port, "rate-limiting: Redis is reachable again");
                }
            }
            Err(e) => {
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::error!(redis.host = %self.cfg.host, redis.port = self.cfg.port, error = %e, "rate-limiting: Redis is unreachable; requests pass (fault_tolerant) or are answered 500 until it is back");
                }
            }
        }
        outcome
    }

    async fn exchange(&self, keys: &[(String, i64)]) -> Result<Vec<i64>, RedisError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if let Some(conn) = idle {
            // A pooled connection Redis has since closed fails at once; try a fresh one then
            // (never after Redis itself answered an error: the counts may have moved).
            match self.run(conn, keys).await {
                Err(RedisError::Connection(_)) => {}
                done => return done,
            }
        }
        let conn = self.connect().await?;
        self.run(conn, keys).await
    }

    async fn run(&self, mut conn: Conn, keys: &[(String, i64)]) -> Result<Vec<i64>, RedisError> {
        let mut buf = Vec::with_capacity(256 * keys.len());
        for (key, ttl) in keys {
            encode(
                &mut buf,
                &[
                    "EVAL".as_bytes(),
                    SCRIPT.as_bytes(),
                    b"1",
                    key.as_bytes(),
                    ttl.to_string().as_bytes(),
                ],
            );
        }
        send(&mut conn, &buf).await?;
        let mut counts = Vec::with_capacity(keys.len());
        for _ in keys {
            match read_reply(&mut conn).await? {
                Reply::Int(n) => counts.push(n),
                _ => return Err(RedisError::Connection("unexpected reply to EVAL".into())),
            }
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_MAX {
            idle.push(conn);
        }
        Ok(counts)
    }

    /// A new connection, logged in and on the configured database.
    async fn connect(&self) -> Result<Conn, RedisError> {
        let stream = TcpStream::connect((self.cfg.host.as_str(), self.cfg.port))
            .await
            .map_err(|e| {
                RedisError::Connection(format!(
                    "connecting to {}:{}: {e}",
                    self.cfg.host, self.cfg.port
                ))
            })?;
        let _ = stream.set_nodelay(true);
        let mut conn = BufReader::new(stream);
        let mut buf = Vec::new();
        let mut expected = 0;
        if let Some(password) = &self.cfg.password {
            match &self.cfg.username {
                Some(user) => encode(&mut buf, &[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => encode(&mut buf, &[b"AUTH", password.as_bytes()]),
            }
            expected += 1;
        }
        if self.cfg.database != 0 {
            encode(
                &mut buf,
                &[b"SELECT", self.cfg.database.to_string().as_bytes()],
            );
            expected += 1;
        }
        if expected > 0 {
            send(&mut conn, &buf).await?;
            for _ in 0..expected {
                if !matches!(read_reply(&mut conn).await?, Reply::Ok) {
                    return Err(RedisError::Connection(
                        "unexpected reply to AUTH or SELECT".into(),
                    ));
                }
            }
        }
        Ok(conn)
    }
}

/// A command as a RESP array of bulk strings.
fn encode(buf: &mut Vec<u8>, args: &[&[u8]]) {
    buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

async fn send(conn: &mut Conn, buf: &[u8]) -> Result<(), RedisError> {
    let s = conn.get_mut();
    s.write_all(buf)
        .await
        .map_err(|e| RedisError::Connection(format!("sending: {e}")))?;
    s.flush()
        .await
        .map_err(|e| RedisError::Connection(format!("sending: {e}")))
}

/// One reply; a Redis error reply is an `Err` with Redis's message.
async fn read_reply(conn: &mut Conn) -> Result<Reply, RedisError> {
    let mut line = Vec::new();
    let n = conn
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| RedisError::Connection(format!("reading: {e}")))?;
    if n == 0 {
        return Err(RedisError::Connection("Redis closed the connection".into()));
    }
    let text = String::from_utf8_lossy(&line);
    let text = text.trim_end_matches(['\r', '\n']);
    let (kind, rest) = text.split_at(text.len().min(1));
    match kind {
        "+" => Ok(Reply::Ok),
        "-" => Err(RedisError::Reply(rest.to_string())),
        ":" => rest
            .parse()
            .map(Reply::Int)
            .map_err(|_| RedisError::Connection(format!("bad integer reply '{rest}'"))),
        "$" => {
            let len: i64 = rest
                .parse()
                .map_err(|_| RedisError::Connection("bad bulk length".into()))?;
            if len >= 0 {
                let mut skip = vec![0; usize::try_from(len).unwrap_or(0) + 2];
                conn.read_exact(&mut skip)
                    .await
                    .map_err(|e| RedisError::Connection(format!("reading: {e}")))?;
            }
            Ok(Reply::Other)
        }
        _ => Err(RedisError::Connection(format!("unexpected reply '{text}'"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn commands_encode_as_resp_arrays() {
        let mut buf = Vec::new();
        encode(&mut buf, &[b"SELECT", b"2"]);
        assert_eq!(buf, b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n");
    }

    #[test]
    fn config_from_the_redis_record() {
        let c = RedisConfig::from_config(&json!({
            "host": "cache", "port": 7000, "timeout": 150, "database": 3, "password": "pw",
            "username": null, "ssl": false
        }))
        .expect("valid");
        assert_eq!(c.timeout, Duration::from_millis(150));
        assert_eq!((c.port, c.database), (7000, 3));
        assert_eq!(c.password.as_deref(), Some("pw"));
        assert!(RedisConfig::from_config(&json!({ "host": "x", "ssl": true })).is_err());
        assert!(RedisConfig::from_config(&json!({ "port": 1 })).is_err());
    }

    #[tokio::test]
    async fn replies_read_from_a_fake_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut seen = Vec::new();
            let mut chunk = [0u8; 4096];
            let mut authed = false;
            // AUTH first (answered before anything else is sent), then two pipelined EVALs.
            while seen.windows(4).filter(|w| w == b"EVAL").count() < 2 {
                let n = s.read(&mut chunk).await.expect("read");
                if n == 0 {
                    return;
                }
                seen.extend_from_slice(&chunk[..n]);
                if !authed && seen.windows(4).any(|w| w == b"AUTH") {
                    authed = true;
                    s.write_all(b"+OK\r\n").await.expect("write");
                }
            }
            s.write_all(b":4\r\n:0\r\n").await.expect("write");
        });
        let redis = Redis::new(RedisConfig {
            host: "127.0.0.1".into(),
            port: addr.port(),
            timeout: Duration::from_secs(5),
            username: None,
            password: Some("pw".into()),
            database: 0,
        });
        let counts = redis
            .increment(&[("a".into(), 60), ("b".into(), 3600)])
            .await
            .expect("counts");
        assert_eq!(counts, vec![4, 0]);
    }
}
