//! The scanner against whole requests, pipelines, every split of them across reads, and
//! seeded random mutations (no panic, and the same verdict however the bytes arrive).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Refusal, Scanner, STAND_IN};

/// What hyper would be given for `input` arriving in pieces cut at `cuts`, and the refusal.
fn run(input: &[u8], cuts: &[usize]) -> (Vec<u8>, Option<Refusal>) {
    let mut s = Scanner::default();
    let mut seen = Vec::new();
    let mut refusal = None;
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(from, input.len());
        let piece = &input[from..cut];
        from = cut;
        if piece.is_empty() || refusal.is_some() || matches!(s.state, super::State::Broken) {
            continue;
        }
        let keep = s.feed(piece);
        seen.extend_from_slice(&piece[..keep]);
        let out = s.pending_out().to_vec();
        s.consume_out(out.len());
        seen.extend_from_slice(&out);
        refusal = refusal.or(s.take_refusal());
    }
    (seen, refusal)
}

pub(super) const SEEDS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\nHost: x\n\n",
    b"\r\nGET /a%00 HTTP/1.0\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
];

#[test]
fn valid_pipelines_pass_unchanged_however_split() {
    let pipeline = [SEEDS[1], SEEDS[2], SEEDS[0], SEEDS[5]].concat();
    for cut in 0..pipeline.len() {
        let (seen, refusal) = run(&pipeline, &[cut]);
        assert_eq!(refusal, None, "cut at {cut}");
        assert_eq!(seen, pipeline, "cut at {cut}");
    }
    let mut bytewise: Vec<usize> = (0..pipeline.len()).collect();
    bytewise.push(pipeline.len());
    assert_eq!(run(&pipeline, &bytewise), (pipeline.clone(), None));
}

#[test]
fn a_refused_request_becomes_the_stand_in_and_nothing_after_it_passes() {
    let first = SEEDS[0];
    let input = [first, SEEDS[3], SEEDS[0]].concat();
    let (seen, refusal) = run(&input, &[]);
    assert_eq!(refusal, Some(Refusal::BadRequest));
    assert_eq!(seen, [first, STAND_IN].concat());
    // Chunk data overrunning its size: the held head never reaches hyper.
    let (seen, refusal) = run(SEEDS[4], &[40]);
    assert_eq!(
        (seen, refusal),
        (STAND_IN.to_vec(), Some(Refusal::BadRequest))
    );
}

#[test]
fn long_lines_and_heads_are_refused_before_they_complete() {
    let line = [b"GET /".as_slice(), &[b'a'; 9000]].concat();
    assert_eq!(run(&line, &[100]).1, Some(Refusal::UriTooLong));
    let head = [
        b"GET / HTTP/1.1\r\nHost: x\r\n".as_slice(),
        &b"X-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(600),
    ]
    .concat();
    assert_eq!(run(&head, &[]).1, Some(Refusal::HeaderTooLarge));
}

#[test]
fn binary_noise_is_refused_without_waiting_for_a_line_end() {
    let tls_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    assert_eq!(
        run(tls_hello, &[]),
        (STAND_IN.to_vec(), Some(Refusal::BadRequest))
    );
    assert_eq!(
        run(b"GET /a", &[]),
        (Vec::new(), None),
        "a valid start waits"
    );
}

#[test]
fn h2_prior_knowledge_and_upgrades_pass_through() {
    let h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
    assert_eq!(run(h2, &[3, 10]), (h2.to_vec(), None));
    assert_eq!(run(SEEDS[7], &[20]), (SEEDS[7].to_vec(), None));
}

/// Random mutations of the seeds: the scanner never panics, gives the same answer for every
/// way the bytes are split, and passes nothing but a prefix of the input (plus the stand-in).
#[test]
fn mutated_requests_get_the_same_verdict_however_split() {
    let mut rng = StdRng::seed_from_u64(14);
    for _ in 0..3000 {
        let mut input = SEEDS[rng.gen_range(0..SEEDS.len())].to_vec();
        for _ in 0..rng.gen_range(1..6) {
            mutate(&mut rng, &mut input);
        }
        let whole = run(&input, &[]);
        let cuts: Vec<usize> = {
            let mut c: Vec<usize> = (0..rng.gen_range(1..8))
                .map(|_| rng.gen_range(0..=input.len()))
                .collect();
            c.sort_unstable();
            c
        };
        let split = run(&input, &cuts);
        assert_eq!(
            whole,
            split,
            "{:?} cut at {cuts:?}",
            String::from_utf8_lossy(&input)
        );
        let (seen, refusal) = whole;
        let passed = if refusal.is_some() {
            &seen[..seen.len() - STAND_IN.len()]
        } else {
            &seen[..]
        };
        assert!(
            input.starts_with(passed),
            "{:?}",
            String::from_utf8_lossy(&input)
        );
    }
}

/// One random edit: a byte flipped, inserted or removed, a framing token spliced in, a run
/// duplicated.
pub(super) fn mutate(rng: &mut StdRng, input: &mut Vec<u8>) {
    const TOKENS: &[&[u8]] = &[
        b"\r\n",
        b"\n",
        b"\r",
        b"\0",
        b" ",
        b"\t",
        b":",
        b"Content-Length: 3\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Host: y\r\n",
        b"%00",
        b"0\r\n\r\n",
        b"ffffffffffffffffff",
        b"\r\n\r\n",
        b"Connection: upgrade\r\nUpgrade: x\r\n",
        b"GET / HTTP/1.1\r\n",
    ];
    let at = rng.gen_range(0..=input.len());
    match rng.gen_range(0..5) {
        0 if !input.is_empty() => {
            let i = at.min(input.len() - 1);
            input[i] = rng.gen();
        }
        1 => input.insert(at, rng.gen()),
        2 if at < input.len() => {
            input.remove(at);
        }
        3 => {
            let t = TOKENS[rng.gen_range(0..TOKENS.len())];
            input.splice(at..at, t.iter().copied());
        }
        _ => {
            let end = (at + rng.gen_range(1..40)).min(input.len());
            let run = input[at..end].to_vec();
            input.splice(at..at, run);
        }
    }
}

#[test]
fn a_pause_releases_a_held_chunked_body_which_streams_on_checked() {
    let mut s = Scanner::default();
    let head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel";
    assert_eq!(s.feed(head), 0, "held");
    assert!(s.release_hold());
    assert_eq!(s.pending_out(), head);
    s.consume_out(head.len());
    assert!(!s.release_hold(), "nothing more held");
    assert_eq!(s.feed(b"lo\r\n"), 4);
    // Data overrunning its size, after part of the body went on: the connection breaks.
    s.feed(b"3\r\nhello\r\n");
    assert!(s.is_broken());
}
