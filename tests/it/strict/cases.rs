//! The raw requests put to nginx and to Gatehouse, with nginx 1.22.1's answer to each (as
//! measured; the side-by-side test checks it still holds when nginx is installed).

pub struct Case {
    pub name: &'static str,
    pub raw: Vec<u8>,
    /// nginx's status for the first request (`0`: no answer).
    pub nginx: u16,
    /// Final responses to wait for (more than one for a pipeline).
    pub responses: usize,
}

fn case(name: &'static str, nginx: u16, raw: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        raw: raw.into(),
        nginx,
        responses: 1,
    }
}

const POST: &str = "POST / HTTP/1.1\r\nHost: x\r\n";
const CHUNKED: &str = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

fn post(headers: &str, body: &str) -> String {
    format!("{POST}{headers}\r\n{body}")
}

pub fn all() -> Vec<Case> {
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    let near_line = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(7000));
    let long_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let near_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(7000)
    );
    let huge_head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..10)
            .map(|i| format!("X-H{i}: {}\r\n", "a".repeat(4000)))
            .collect::<String>()
    );
    let mut cases = vec![
        // Content-Length with Transfer-Encoding, in every spelling.
        case("cl_te", 400, post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")),
        case("te_cl", 400, post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n")),
        case("te_tab", 501, post("Transfer-Encoding:\tchunked\r\n", "0\r\n\r\n")),
        case("te_tab_cl", 501, post("Content-Length: 5\r\nTransfer-Encoding:\tchunked\r\n", "0\r\n\r\n")),
        case("te_trailing_tab", 501, post("Transfer-Encoding: chunked\t\r\n", "0\r\n\r\n")),
        case("te_leading_space_line", 400, post(" Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "hello")),
        case("te_space_before_colon", 400, post("Transfer-Encoding : chunked\r\nContent-Length: 5\r\n", "hello")),
        case("te_chunked_identity", 501, post("Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n")),
        case("te_identity", 501, post("Transfer-Encoding: identity\r\n", "")),
        case("te_gzip_chunked", 501, post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n")),
        case("te_obs_fold", 400, post("Transfer-Encoding:\r\n chunked\r\nContent-Length: 5\r\n", "hello")),
        case("te_twice", 400, post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")),
        case("te_http10", 400, "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        case("te_upper_case_ok", 200, post("Transfer-Encoding: CHUNKED\r\n", "0\r\n\r\n")),
        case("bare_lf_cl_te", 400, "POST / HTTP/1.1\nHost: x\nContent-Length: 5\nTransfer-Encoding: chunked\n\n0\r\n\r\n"),
        case("bare_lf_ok", 200, "GET / HTTP/1.1\nHost: x\n\n"),
        // Content-Length alone.
        case("cl_twice_equal", 400, post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello")),
        case("cl_twice_different", 400, post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!")),
        case("cl_list", 400, post("Content-Length: 5, 5\r\n", "hello")),
        case("cl_sign", 400, post("Content-Length: +5\r\n", "hello")),
        case("cl_tab", 400, post("Content-Length:\t5\r\n", "hello")),
        case("cl_overflow", 400, post("Content-Length: 99999999999999999999\r\n", "hello")),
        case("cl_empty", 400, post("Content-Length: \r\n", "")),
        // Chunk framing.
        case("chunk_ok", 200, format!("{CHUNKED}5\r\nhello\r\n0\r\n\r\n")),
        case("chunk_extension_ok", 200, format!("{CHUNKED}5;a=b\r\nhello\r\n0\r\n\r\n")),
        case("chunk_trailer_ok", 200, format!("{CHUNKED}5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n")),
        case("chunk_bad_size", 400, format!("{CHUNKED}zz\r\nhello\r\n0\r\n\r\n")),
        case("chunk_no_size", 400, format!("{CHUNKED}\r\n\r\n")),
        case("chunk_size_overflow", 400, format!("{CHUNKED}fffffffffffffffff\r\nhello\r\n0\r\n\r\n")),
        case("chunk_size_past_off_t", 400, format!("{CHUNKED}8000000000000000\r\nhello\r\n0\r\n\r\n")),
        case("chunk_data_overrun", 400, format!("{CHUNKED}3\r\nhello\r\n0\r\n\r\n")),
        case("chunk_overrun_second_chunk", 400, format!("{CHUNKED}5\r\nhello\r\n2\r\nworld\r\n0\r\n\r\n")),
        // Sizes: nginx's large_client_header_buffers 4 8k.
        case("request_line_9k", 414, long_line),
        case("request_line_7k_ok", 200, near_line),
        case("header_line_9k", 400, long_header),
        case("header_line_7k_ok", 200, near_header),
        case("head_40k", 400, huge_head),
        // Host.
        case("http11_without_host", 400, "GET / HTTP/1.1\r\n\r\n"),
        case("http10_without_host_ok", 200, "GET / HTTP/1.0\r\n\r\n"),
        case("two_hosts", 400, "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"),
        case("two_equal_hosts", 400, "GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n"),
        case("empty_host", 400, "GET / HTTP/1.1\r\nHost: \r\n\r\n"),
        case("host_with_slash", 400, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
        case("host_with_dots", 400, "GET / HTTP/1.1\r\nHost: a..b\r\n\r\n"),
        // Methods.
        case("lower_case_method", 400, "get / HTTP/1.1\r\nHost: x\r\n\r\n"),
        case("method_with_at", 400, "G@T / HTTP/1.1\r\nHost: x\r\n\r\n"),
        case("custom_method_ok", 200, "PURGE_IT / HTTP/1.1\r\nHost: x\r\n\r\n"),
        case("connect", 400, "CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n"),
        case("trace", 405, "TRACE / HTTP/1.1\r\nHost: x\r\n\r\n"),
        // The target.
        case("raw_nul_in_target", 400, b"GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        case("encoded_nul_in_path", 400, "GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n"),
        case("encoded_nul_in_query_ok", 200, "GET /a?x=%00 HTTP/1.1\r\nHost: x\r\n\r\n"),
        case("control_byte_in_target", 400, b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        case("asterisk", 400, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"),
        case("absolute_form_ok", 200, "GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n"),
        case("http2_version", 505, "GET / HTTP/2.0\r\nHost: x\r\n\r\n"),
        // Header bytes.
        case("nul_in_header", 400, b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n".to_vec()),
        case("bare_cr_in_header", 400, "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"),
        case("leading_empty_lines_ok", 200, "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        // A TLS handshake on the plain port: refused at its first byte, not left waiting.
        case("tls_hello_on_plain_port", 400, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec()),
        // Smuggling: the part after the first request must never reach the upstream.
        case("smuggle_cl_te", 400, post("Content-Length: 35\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\nGET /smuggled HTTP/1.1\r\nX: y\r\n\r\n")),
        case("smuggle_te_cl", 400, post("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", "2c\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n")),
        case("smuggle_te_te", 400, post("Transfer-Encoding: chunked\r\nTransfer-encoding: cow\r\nContent-Length: 4\r\n", "5c\r\nGET /smuggled HTTP/1.1\r\n\r\n0\r\n\r\n")),
        case("smuggle_te_space_cl", 400, post("Transfer-Encoding : chunked\r\nContent-Length: 4\r\n", "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")),
        case("smuggle_cl_cl", 400, post("Content-Length: 0\r\nContent-Length: 41\r\n", "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")),
        case("smuggle_after_overrun", 400, format!("{CHUNKED}3\r\nabcGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n0\r\n\r\n")),
        case("smuggle_after_trace_body", 405, "TRACE / HTTP/1.1\r\nHost: x\r\nContent-Length: 36\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"),
    ];
    // A body followed by a second request is a pipeline, served by both; its bytes stay a
    // body exactly as long as Content-Length says.
    let mut pipeline = case(
        "pipelined_after_body_ok",
        200,
        post(
            "Content-Length: 5\r\n",
            "helloGET /second HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
    );
    pipeline.responses = 2;
    cases.push(pipeline);
    let mut chunked_pipeline = case(
        "pipelined_after_chunked_ok",
        200,
        format!("{CHUNKED}5\r\nhello\r\n0\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    chunked_pipeline.responses = 2;
    cases.push(chunked_pipeline);
    cases
}

/// Where Gatehouse is stricter than nginx (hyper refuses these; nginx lets them through or
/// drops the odd header line), with nginx's answer and Gatehouse's.
pub fn stricter() -> Vec<(Case, u16)> {
    vec![
        (
            case("double_space", 200, "GET  / HTTP/1.1\r\nHost: x\r\n\r\n"),
            400,
        ),
        (
            case("http_1_2", 200, "GET / HTTP/1.2\r\nHost: x\r\n\r\n"),
            400,
        ),
        (
            case(
                "header_without_colon",
                200,
                "GET / HTTP/1.1\r\nHost: x\r\nfoo\r\n\r\n",
            ),
            400,
        ),
        (
            case(
                "at_in_header_name",
                200,
                "GET / HTTP/1.1\r\nHost: x\r\nX@A: 1\r\n\r\n",
            ),
            400,
        ),
        (
            case(
                "control_byte_in_header",
                200,
                b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n".to_vec(),
            ),
            400,
        ),
        (
            case("bare_lf_chunks", 200, format!("{CHUNKED}5\nhello\n0\n\n")),
            400,
        ),
        (
            case(
                "150_headers",
                200,
                format!(
                    "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
                    (0..150)
                        .map(|i| format!("X-H{i}: a\r\n"))
                        .collect::<String>()
                ),
            ),
            400,
        ),
    ]
}
