//! The parts of an `http://` or `https://` URL a request needs.

/// Where a request goes: scheme, host, port, and the request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) tls: bool,
    /// The host without IPv6 brackets (for DNS and TLS server names).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host[:port]` as written in the URL (the `Host` header).
    pub(crate) authority: String,
    /// Path and query (`/` when the URL has none).
    pub(crate) path: String,
}

/// A pooled connection serves only requests to the same scheme, host and port.
pub(crate) type Origin = (bool, String, u16);

impl Target {
    /// Parses `url`. Errors name what is wrong, never the URL's query (which
    /// could hold anything a caller put there).
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err("the URL must start with http:// or https://".into());
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() {
            return Err("the URL has no host".into());
        }
        if authority.contains('@') {
            return Err("credentials in the URL are not supported".into());
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let close = v6.find(']').ok_or("an IPv6 host lacks its closing ]")?;
            let after = &v6[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => parse_port(p)?,
                None if after.is_empty() => default_port,
                None => return Err("unexpected text after the IPv6 host".into()),
            };
            (v6[..close].to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), parse_port(p)?),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err("the URL has no host".into());
        }
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("the URL's path holds spaces or control characters".into());
        }
        Ok(Target {
            tls,
            host,
            port,
            authority: authority.to_string(),
            path,
        })
    }

    pub(crate) fn origin(&self) -> Origin {
        (self.tls, self.host.to_ascii_lowercase(), self.port)
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    p.parse()
        .map_err(|_| "the URL's port is not a number from 0 to 65535".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_ports_and_paths() {
        let t = Target::parse("http://127.0.0.1:8080/api/export/data.json?a=1").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port), (false, "127.0.0.1", 8080));
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.path, "/api/export/data.json?a=1");
        let t = Target::parse("https://api.iterable.com").unwrap();
        assert_eq!((t.tls, t.port, t.path.as_str()), (true, 443, "/"));
        let t = Target::parse("http://[::1]:9/x").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("::1", 9, "[::1]:9")
        );
        let t = Target::parse("http://h?q=1").unwrap();
        assert_eq!(t.path, "/?q=1");
    }

    #[test]
    fn refuses_what_it_cannot_send() {
        assert!(Target::parse("ftp://h/").is_err());
        assert!(Target::parse("http:///x").is_err());
        assert!(Target::parse("http://u:p@h/").is_err());
        assert!(Target::parse("http://h:99999/").is_err());
        assert!(Target::parse("http://h/a b").is_err());
    }
}
