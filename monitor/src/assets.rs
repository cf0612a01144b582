//! The dashboard's static files, compiled into the binary.
//!
//! The dashboard (`monitor/assets/`) is plain HTML, JavaScript and CSS: no
//! framework, no CDN, no external font, so that it works on a machine
//! without Internet access. It polls the `/streaming/*` JSON endpoints once a
//! second with relative URLs (it also works behind a reverse proxy that
//! mounts the monitoring port under a prefix) and never needs the NATS
//! endpoints, which are absent when the server runs against an external
//! NATS server.

/// `index.html`: the page's skeleton (summary cards, the channel,
/// subscription and client tables), served at `/` and `/index.html`.
const INDEX_HTML: &[u8] = include_bytes!("../assets/index.html");
/// `app.js`: polling, rate computation and rendering.
const APP_JS: &[u8] = include_bytes!("../assets/app.js");
/// `style.css`: the layout, light and dark colour schemes.
const STYLE_CSS: &[u8] = include_bytes!("../assets/style.css");

/// `Content-Type` of `index.html`.
const HTML: &str = "text/html; charset=utf-8";
/// `Content-Type` of `app.js`.
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
/// `Content-Type` of `style.css`.
const CSS: &str = "text/css; charset=utf-8";

/// The asset at `path` (`/`, `/index.html`, `/app.js`, `/style.css`): its
/// content type and bytes; `None` for any other path. `path` is the
/// request's path without its query string.
pub(crate) fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    match path {
        "/" | "/index.html" => Some((HTML, INDEX_HTML)),
        "/app.js" => Some((JAVASCRIPT, APP_JS)),
        "/style.css" => Some((CSS, STYLE_CSS)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::asset;

    fn text(path: &str) -> &'static str {
        let (_, bytes) = asset(path).unwrap_or_else(|| panic!("no asset at {path}"));
        std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{path} is not UTF-8: {e}"))
    }

    #[test]
    fn paths_map_to_their_files_and_content_types() {
        let (ct, root) = asset("/").expect("/");
        assert_eq!(ct, "text/html; charset=utf-8");
        let (ct, index) = asset("/index.html").expect("/index.html");
        assert_eq!(ct, "text/html; charset=utf-8");
        assert_eq!(root, index);
        assert!(text("/").starts_with("<!DOCTYPE html>"));

        let (ct, js) = asset("/app.js").expect("/app.js");
        assert_eq!(ct, "text/javascript; charset=utf-8");
        assert!(!js.is_empty());
        let (ct, css) = asset("/style.css").expect("/style.css");
        assert_eq!(ct, "text/css; charset=utf-8");
        assert!(!css.is_empty());
    }

    #[test]
    fn other_paths_are_not_assets() {
        for path in [
            "",
            "/index.htm",
            "/app.js/",
            "/APP.JS",
            "/style.css?v=1",
            "/favicon.ico",
            "/assets/app.js",
            "/../assets/app.js",
            "/streaming/serverz",
            "/metrics",
            "/varz",
            "//",
        ] {
            assert!(asset(path).is_none(), "{path:?} should not be an asset");
        }
    }

    #[test]
    fn the_page_loads_its_script_and_style_by_relative_url() {
        let html = text("/");
        assert!(html.contains(r#"<link rel="stylesheet" href="style.css">"#));
        assert!(html.contains(r#"<script src="app.js" defer></script>"#));
        // No favicon request (a 404 would show as an error in the console).
        assert!(html.contains(r#"<link rel="icon" href="data:,">"#));
    }

    #[test]
    fn nothing_is_loaded_from_elsewhere() {
        for path in ["/", "/app.js", "/style.css"] {
            let body = text(path);
            for needle in ["https:", "@import", "url(", "fonts.", "cdn"] {
                assert!(!body.contains(needle), "{path} contains {needle:?}");
            }
            // The only absolute URL is the SVG namespace, in the script.
            let http = body.matches("http:").count();
            let svg_ns = body.matches("http://www.w3.org/2000/svg").count();
            assert_eq!(http, svg_ns, "{path} refers to an http: URL");
        }
        // The page forbids loading anything from elsewhere.
        assert!(text("/").contains("default-src 'self'"));
    }

    #[test]
    fn the_script_polls_only_the_streaming_endpoints() {
        let js = text("/app.js");
        for endpoint in [
            "'streaming/serverz'",
            "'streaming/channelsz?subs=1'",
            "'streaming/clientsz?subs=1'",
            "'streaming/storez'",
        ] {
            assert!(js.contains(endpoint), "app.js does not fetch {endpoint}");
        }
        for nats in ["varz", "connz", "subsz", "routez", "healthz"] {
            assert!(!js.contains(&format!("'{nats}")), "app.js fetches /{nats}");
        }
    }

    #[test]
    fn the_script_never_writes_markup() {
        let js = text("/app.js");
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!js.contains(sink), "app.js uses {sink}");
        }
        assert!(js.contains("'use strict'"));
    }

    #[test]
    fn the_ids_the_script_uses_exist_in_the_page() {
        let html = text("/");
        let js = text("/app.js");
        let mut seen = 0;
        // Every $('id'), setText('id', ...) and setPair('id', ...) names an
        // element of index.html.
        for call in ["$('", "setText('", "setPair('"] {
            let mut rest = js;
            while let Some(i) = rest.find(call) {
                let after = &rest[i + call.len()..];
                let end = after.find('\'').expect("closing quote");
                let id = &after[..end];
                assert!(
                    html.contains(&format!("id=\"{id}\"")),
                    "app.js uses #{id}, which index.html does not have"
                );
                seen += 1;
                rest = &after[end..];
            }
        }
        assert!(seen > 20, "only {seen} element ids found in app.js");
    }

    #[test]
    fn assets_are_utf8_without_a_byte_order_mark() {
        for path in ["/", "/app.js", "/style.css"] {
            let (_, bytes) = asset(path).expect(path);
            assert!(std::str::from_utf8(bytes).is_ok(), "{path}");
            assert!(
                !bytes.starts_with(&[0xEF, 0xBB, 0xBF]),
                "{path} starts with a BOM"
            );
        }
    }
}
