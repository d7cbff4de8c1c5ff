//! `multipart/form-data` bodies (curl's `-F`, a browser's file upload) read into their parts'
//! names and text values, for the Admin API and the console alike. Text only: a body that is
//! not UTF-8 is refused rather than guessed at.

/// Each part's `name` and value, in order. `None` when the body is malformed or not UTF-8.
/// `content_type` is the request's header as sent (the boundary keeps its case).
pub fn text_parts(content_type: &str, bytes: &[u8]) -> Option<Vec<(String, String)>> {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()?
        .trim_matches('"');
    if boundary.is_empty() {
        return None;
    }
    let body = std::str::from_utf8(bytes).ok()?;
    let delimiter = format!("--{boundary}");
    if !body.contains(&format!("{delimiter}--")) {
        return None;
    }
    let mut pairs = Vec::new();
    let mut parts = body.split(delimiter.as_str());
    parts.next()?; // the preamble
    for part in parts {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let (head, value) = part.split_once("\r\n\r\n")?;
        let name = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("name="))
            .next()?
            .trim_matches('"')
            .to_string();
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        pairs.push((name, value.to_string()));
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::text_parts;

    #[test]
    fn reads_fields_and_files() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"cert\"; filename=\"c.pem\"\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN X-----\nabc\n-----END X-----\n\r\n--XyZ\r\nContent-Disposition: form-data; name=\"snis[]\"\r\n\r\na.example\r\n--XyZ--\r\n";
        let parts = text_parts("multipart/form-data; boundary=XyZ", body.as_bytes());
        assert_eq!(
            parts,
            Some(vec![
                (
                    "cert".into(),
                    "-----BEGIN X-----\nabc\n-----END X-----\n".into()
                ),
                ("snis[]".into(), "a.example".into()),
            ])
        );
        assert_eq!(
            text_parts("multipart/form-data; boundary=XyZ", b"garbage"),
            None
        );
        assert_eq!(text_parts("multipart/form-data", body.as_bytes()), None);
        assert_eq!(
            text_parts(
                "multipart/form-data; boundary=XyZ",
                b"--XyZ\r\n\xff\xfe--XyZ--"
            ),
            None
        );
    }
}
