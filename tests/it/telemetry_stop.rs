//! No request record is lost when a process stops: a graceful stop (SIGTERM) of a node or a
//! control plane in the middle of traffic keeps every answered request, counted exactly on the
//! control plane; a crash (SIGKILL) loses at most the last moments. Real processes, real load.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::{eventually, reflect_upstream, Upstream};
use crate::procs::{add_route, node_row, requests_counted, ControlPlane, Node};

/// Sequential GETs on `url` from `clients` tasks until stopped; counts and timestamps every
/// answered request (any status: the gateway recorded it).
struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    times: Arc<Mutex<Vec<Instant>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(url: String, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let times = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..clients)
            .map(|_| {
                let (stop, answered, times, url) =
                    (stop.clone(), answered.clone(), times.clone(), url.clone());
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    while !stop.load(Ordering::Relaxed) {
                        match client
                            .get(&url)
                            .timeout(Duration::from_secs(5))
                            .send()
                            .await
                        {
                            Ok(r) => {
                                let _ = r.bytes().await;
                                answered.fetch_add(1, Ordering::Relaxed);
                                times
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .push(Instant::now());
                            }
                            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            answered,
            times,
            tasks,
        }
    }

    async fn stop(self) -> (u64, Vec<Instant>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        let times = self.times.lock().unwrap_or_else(|p| p.into_inner()).clone();
        (self.answered.load(Ordering::Relaxed), times)
    }
}

/// A temp dir, an upstream, and a control plane in that dir serving `/load` from it. Bound in
/// this order, they drop the other way: the control plane stops before its directory goes.
async fn control_plane_serving_load() -> (tempfile::TempDir, Upstream, ControlPlane) {
    let root = tempfile::tempdir().expect("temp dir");
    let upstream = reflect_upstream().await;
    let cp = ControlPlane::start(&root.path().join("cp")).await;
    add_route(&cp, "load", &format!("http://{}", upstream.addr), "/load").await;
    (root, upstream, cp)
}

async fn counted_exactly(cp: &ControlPlane, id: &str, expected: u64) {
    let mut last = 0;
    let reached = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            last = requests_counted(cp, id).await;
            if last >= expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        reached.is_ok(),
        "counted {last} of {expected} answered requests"
    );
    // Nothing more arrives later either (no double counting).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(requests_counted(cp, id).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_mid_load_keeps_every_record() {
    let (root, _upstream, cp) = control_plane_serving_load().await;
    let cred = cp.issue_credential("default").await;
    let mut node = Node::start(&root.path().join("node"), &cred, &[]);
    node.wait_for("/load", 200, Duration::from_secs(20)).await;
    let url = format!("http://127.0.0.1:{}/load", node.proxy_port);

    let load = Load::start(url, 4);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let code = node.proc.terminate();
    assert_eq!(code, Some(0), "graceful exit; log:\n{}", node.proc.log());
    let (answered, _) = load.stop().await;
    assert!(answered > 100, "the load ran: {answered}");
    let expected = answered + node.answered;
    // Whatever did not reach the control plane before the exit is in the spool.
    node.restart();
    counted_exactly(&cp, &node.id(), expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_at_most_its_last_moments() {
    let (root, _upstream, cp) = control_plane_serving_load().await;
    let cred = cp.issue_credential("default").await;
    let mut node = Node::start(&root.path().join("node"), &cred, &[]);
    node.wait_for("/load", 200, Duration::from_secs(20)).await;
    let url = format!("http://127.0.0.1:{}/load", node.proxy_port);

    let load = Load::start(url, 4);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    crash_loses_only_the_last_moments(&cp, &mut node, load, None).await;
}

/// Kills `node` under `load`, restarts it (on `direct` as its control plane, when given) and
/// checks that the control plane counts every answered request but those of the last 250 ms
/// before the kill, and never more than were answered.
async fn crash_loses_only_the_last_moments(
    cp: &ControlPlane,
    node: &mut Node,
    load: Load,
    direct: Option<&str>,
) {
    node.proc.kill();
    let killed = Instant::now();
    let (answered, times) = load.stop().await;
    if let Some(direct) = direct {
        reconnect_directly(node, direct);
    }
    node.restart();
    let id = node.id();
    let expected = answered + node.answered;
    // Settle: the restarted node delivers its spool; then read the count.
    let probes = node.answered;
    node.wait_for("/load", 200, Duration::from_secs(20)).await;
    let counted = settled_count(cp, &id).await - (node.answered - probes);
    let window = Duration::from_millis(250);
    let last_moments = times
        .iter()
        .filter(|t| killed.duration_since(**t) <= window)
        .count() as u64;
    assert!(
        counted <= expected,
        "never more than answered: {counted} > {expected}"
    );
    let lost = expected - counted;
    assert!(
        lost <= last_moments,
        "lost {lost} records, more than the {last_moments} answered in the last {window:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_plane_stopped_mid_load_keeps_every_record() {
    let (_root, _upstream, mut cp) = control_plane_serving_load().await;
    let url = format!("http://127.0.0.1:{}/load", cp.proxy_port);
    let ready = url.clone();
    eventually(Duration::from_secs(10), "the route served", || {
        let url = ready.clone();
        async move {
            let r = reqwest::get(&url).await.ok()?;
            (r.status() == 200).then_some(())
        }
    })
    .await;
    let embedded = cp
        .nodes("default")
        .await
        .into_iter()
        .find(|n| n["embedded"] == true)
        .and_then(|n| n["id"].as_str().map(str::to_string))
        .expect("the embedded proxy is listed");
    let before = settled_count(&cp, &embedded).await;

    let load = Load::start(url, 4);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let code = cp.proc.terminate();
    assert_eq!(code, Some(0), "graceful exit; log:\n{}", cp.proc.log());
    let (answered, _) = load.stop().await;
    assert!(answered > 100, "the load ran: {answered}");
    cp.restart().await;
    counted_exactly(&cp, &embedded, before + answered).await;
}

/// The count once it stops moving (the requests before it have all been written).
async fn settled_count(cp: &ControlPlane, id: &str) -> u64 {
    eventually(Duration::from_secs(10), "the count to settle", || async {
        let a = requests_counted(cp, id).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let b = requests_counted(cp, id).await;
        (a == b).then_some(b)
    })
    .await
}

/// A TCP relay to `to` that, once `stall` is set, holds everything coming back: a control
/// plane that stopped answering (overloaded, or a network that drops its side). With
/// `new_ones_pass`, connections opened while it stalls are relayed as usual: a control plane
/// stuck on the requests it has, answering new ones.
async fn stalling_relay(to: String, stall: Arc<AtomicBool>, new_ones_pass: bool) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("relay listener");
    let port = listener.local_addr().expect("relay addr").port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (to, stall) = (to.clone(), stall.clone());
            let exempt = new_ones_pass && stall.load(Ordering::Relaxed);
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&to).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    let _ = sw.shutdown().await;
                });
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    while !exempt && stall.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = cw.shutdown().await;
            });
        }
    });
    port
}

/// Spooling does not wait for delivery: with the control plane no longer answering (every
/// delivery hangs until its 30 s timeout), a killed node still loses no more than its last
/// moments. A shipper that delivered between spools kept everything after the hung delivery
/// in memory, and lost it all.
/// A node that reaches its control plane through a [`stalling_relay`], synced and serving
/// `/load`, with the relay's switch and the control plane's own address.
async fn node_behind_a_relay(
    root: &Path,
    cp: &ControlPlane,
    new_ones_pass: bool,
) -> (Node, Arc<AtomicBool>, String) {
    let cred = cp.issue_credential("default").await;
    let direct = cred["control_plane"]
        .as_str()
        .expect("control plane url")
        .to_string();
    let port = direct.rsplit(':').next().expect("port");
    let stall = Arc::new(AtomicBool::new(false));
    let relay = stalling_relay(format!("127.0.0.1:{port}"), stall.clone(), new_ones_pass).await;
    let relayed = (
        "GATEHOUSE_CLUSTER_CONTROL_PLANE",
        format!("https://localhost:{relay}"),
    );
    let mut node = Node::start(&root.join("node"), &cred, &[relayed]);
    node.wait_for("/load", 200, Duration::from_secs(20)).await;
    (node, stall, direct)
}

/// Points the node at its control plane without the relay, for its next start: the spool is
/// then delivered at full speed and the count settles.
fn reconnect_directly(node: &mut Node, direct: &str) {
    node.args
        .retain(|(k, _)| *k != "GATEHOUSE_CLUSTER_CONTROL_PLANE");
    node.args
        .push(("GATEHOUSE_CLUSTER_CONTROL_PLANE", direct.to_string()));
}

/// A control plane with a `/load` route; a node behind a relay that has just stopped passing
/// the control plane's answers; 4 clients loading the node. Fields drop in order: the
/// processes stop before their directory goes.
struct Hung {
    load: Load,
    node: Node,
    cp: ControlPlane,
    direct: String,
    _upstream: Upstream,
    _root: tempfile::TempDir,
}

async fn loaded_node_behind_a_hung_control_plane() -> Hung {
    let (root, upstream, cp) = control_plane_serving_load().await;
    let (node, stall, direct) = node_behind_a_relay(root.path(), &cp, false).await;
    stall.store(true, Ordering::Relaxed);
    let load = Load::start(format!("http://127.0.0.1:{}/load", node.proxy_port), 4);
    Hung {
        load,
        node,
        cp,
        direct,
        _upstream: upstream,
        _root: root,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_control_plane_does_not_widen_what_a_crash_loses() {
    let mut h = loaded_node_behind_a_hung_control_plane().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    crash_loses_only_the_last_moments(&h.cp, &mut h.node, h.load, Some(&h.direct)).await;
}

/// A graceful stop while the control plane hangs: the node does not wait out the hung
/// delivery (its timeout is 30 s), exits within seconds, and keeps every record in its spool,
/// all counted once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_while_the_control_plane_hangs_keeps_every_record() {
    let mut h = loaded_node_behind_a_hung_control_plane().await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let asked = Instant::now();
    let code = h.node.proc.terminate();
    let took = asked.elapsed();
    assert_eq!(code, Some(0), "graceful exit; log:\n{}", h.node.proc.log());
    assert!(
        took < Duration::from_secs(10),
        "the stop waited {took:?} for a control plane that does not answer"
    );
    let (answered, _) = h.load.stop().await;
    assert!(answered > 100, "the load ran: {answered}");
    let expected = answered + h.node.answered;
    reconnect_directly(&mut h.node, &h.direct);
    h.node.restart();
    counted_exactly(&h.cp, &h.node.id(), expected).await;
}

/// A delivery the control plane does not answer holds its connection for up to 30 s. The
/// heartbeats go on over a connection of their own, so the control plane still sees the node:
/// they used to queue behind the hung delivery, and the node went stale in Runtime Manager.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_go_on_while_a_delivery_hangs() {
    let (root, _upstream, cp) = control_plane_serving_load().await;
    let (node, stall, _) = node_behind_a_relay(root.path(), &cp, true).await;
    let load = Load::start(format!("http://127.0.0.1:{}/load", node.proxy_port), 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stall.store(true, Ordering::Relaxed);
    // Long enough for a delivery to be sent and left unanswered on the kept-alive connection.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (answered, _) = load.stop().await;
    assert!(answered > 0, "the load ran");
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let id = node.id();
    // A heartbeat every 10 s; one that drew the stalled connection gives up after 10 s.
    eventually(
        Duration::from_secs(25),
        "a heartbeat during the hang",
        || async {
            let nodes = cp.nodes("default").await;
            node_row(&nodes, &id)
                .and_then(|n| n["last_seen"].as_i64())
                .filter(|&t| t > since)
        },
    )
    .await;
}
