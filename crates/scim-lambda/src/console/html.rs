//! The console's markup: escaping, the page frame (navigation, tenant switch, sign-out), and the
//! small pieces every page uses. Pages are plain server-rendered HTML; `console.js` (vendored,
//! served from `/admin/assets/`) only improves them: local times, the copy button, reading an
//! import file into its text box. Every page works without it.

use super::session::Session;
use std::fmt::Write as _;

/// Text made safe for HTML element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment made safe for a URL (tenant names and ids are plain, but never trusted).
pub fn seg(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The sections of a tenant, in navigation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Tokens,
    Review,
    Settings,
    Log,
}

impl Section {
    pub const TENANT: [Section; 4] = [Section::Tokens, Section::Review, Section::Settings, Section::Log];

    pub fn title(self) -> &'static str {
        match self {
            Section::Overview => "Overview",
            Section::Tokens => "SCIM Tokens",
            Section::Review => "Review",
            Section::Settings => "Settings",
            Section::Log => "Provisioning log",
        }
    }

    /// The path segment under `/admin/tenants/{tenant}/`.
    pub fn slug(self) -> &'static str {
        match self {
            Section::Overview => "",
            Section::Tokens => "tokens",
            Section::Review => "review",
            Section::Settings => "settings",
            Section::Log => "log",
        }
    }
}

/// The URL of a tenant's section.
pub fn section_url(tenant: &str, section: Section) -> String {
    format!("/admin/tenants/{}/{}", seg(tenant), section.slug())
}

/// What a page handler returns: its title, where it belongs, and its body.
#[derive(Debug)]
pub struct Page {
    pub section: Section,
    pub tenant: Option<String>,
    pub body: String,
}

/// What the frame needs to know about the viewer.
#[derive(Debug)]
pub struct Viewer<'a> {
    pub session: &'a Session,
    pub csrf: &'a str,
    /// The tenants the operator may open.
    pub tenants: &'a [String],
}

/// A whole document: the frame around `page`.
pub fn document(viewer: &Viewer<'_>, page: &Page) -> String {
    let title = match &page.tenant {
        Some(t) => format!("{} · {}", page.section.title(), t),
        None => page.section.title().to_string(),
    };
    let mut nav = String::new();
    let current = |s: Section| {
        if s == page.section {
            " aria-current=\"page\""
        } else {
            ""
        }
    };
    let _ = write!(
        nav,
        "<a href=\"/admin/\"{}>Overview</a>",
        current(Section::Overview)
    );
    if let Some(tenant) = &page.tenant {
        for section in Section::TENANT {
            let _ = write!(
                nav,
                "<a href=\"{}\"{}>{}</a>",
                esc(&section_url(tenant, section)),
                current(section),
                section.title()
            );
        }
    }
    let mut switch = String::new();
    if viewer.tenants.len() > 1 || page.tenant.is_none() {
        let section = match page.section {
            Section::Overview => Section::Tokens,
            s => s,
        };
        let _ = write!(
            switch,
            "<form class=\"switch\" method=\"get\" action=\"/admin/switch\">\
             <input type=\"hidden\" name=\"section\" value=\"{}\">\
             <label for=\"tenant-switch\">Tenant</label> <select id=\"tenant-switch\" name=\"tenant\">",
            section.slug()
        );
        for t in viewer.tenants {
            let selected = if page.tenant.as_deref() == Some(t.as_str()) {
                " selected"
            } else {
                ""
            };
            let _ = write!(switch, "<option value=\"{0}\"{selected}>{0}</option>", esc(t));
        }
        switch.push_str("</select> <button type=\"submit\">Open</button></form>");
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · SCIM console</title>\
         <link rel=\"stylesheet\" href=\"/admin/assets/console.css\">\
         <script src=\"/admin/assets/console.js\" defer></script></head><body>\
         <header><a class=\"brand\" href=\"/admin/\">SCIM console</a><nav aria-label=\"Sections\">{nav}</nav>\
         {switch}<div class=\"who\"><span title=\"{subject}\">{who}</span>{signout}</div></header>\
         <main id=\"main\"><h1>{h1}</h1>{body}</main></body></html>",
        title = esc(&title),
        h1 = esc(&title),
        subject = esc(&viewer.session.subject),
        who = esc(&viewer.session.display),
        signout = form(
            "/admin/logout",
            viewer.csrf,
            "<button type=\"submit\">Sign out</button>"
        ),
        body = page.body,
    )
}

/// A page for someone not (or no longer) signed in, or an error before any session: no frame.
pub fn bare(title: &str, body: &str) -> String {
    bare_moving_on(title, body, None)
}

/// [`bare`], and when `next` is given the browser goes on to it at once (a page, not a
/// redirect: see `signin`).
pub fn bare_moving_on(title: &str, body: &str, next: Option<&str>) -> String {
    let refresh = next
        .map(|url| format!("<meta http-equiv=\"refresh\" content=\"0;url={}\">", esc(url)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{refresh}\
         <title>{t} · SCIM console</title><link rel=\"stylesheet\" href=\"/admin/assets/console.css\">\
         </head><body><main id=\"main\" class=\"bare\"><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title)
    )
}

/// A POST form to `action` carrying the session's CSRF token.
pub fn form(action: &str, csrf: &str, inner: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{inner}</form>",
        esc(action),
        esc(csrf)
    )
}

/// A time as UTC text that console.js shows in the viewer's timezone, UTC on hover. `at` is
/// RFC 3339 (as records and tokens carry it).
pub fn time(at: &str) -> String {
    let utc = scim_store::parse_timestamp(at)
        .map(|t| t.to_offset(time::UtcOffset::UTC))
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| at.to_string());
    format!(
        "<time datetime=\"{}\" title=\"{}\">{}</time>",
        esc(at),
        esc(&utc),
        esc(&utc)
    )
}

/// A notice above a page's content: `Ok` for what an action did, `Error` for what went wrong.
pub fn notice(kind: Notice, text: &str) -> String {
    let (class, role) = match kind {
        Notice::Ok => ("notice ok", "status"),
        Notice::Error => ("notice error", "alert"),
    };
    format!("<p class=\"{class}\" role=\"{role}\">{}</p>", esc(text))
}

/// The notice a page shows after an action: `code` (the `notice` parameter [`super::done`]
/// redirects with) looked up among the page's own `texts`; an unknown code shows nothing, so
/// no text of a URL reaches the page.
pub fn notice_of(code: Option<&str>, texts: &[(&str, &str)]) -> String {
    texts
        .iter()
        .find(|(known, _)| Some(*known) == code)
        .map(|(_, text)| notice(Notice::Ok, text))
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Ok,
    Error,
}

/// A table with a caption (for screen readers and the eye) and header cells.
pub fn table(caption: &str, headers: &[&str], rows: &[String], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{}</p>", esc(empty));
    }
    let mut out = format!(
        "<div class=\"scroll\"><table><caption>{}</caption><thead><tr>",
        esc(caption)
    );
    for h in headers {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str(row);
    }
    out.push_str("</tbody></table></div>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(seg("a/b c"), "a%2Fb+c");
    }

    #[test]
    fn notices_come_only_from_the_pages_own_texts() {
        let texts = [("saved", "Saved.")];
        assert!(notice_of(Some("saved"), &texts).contains(">Saved.<"));
        assert_eq!(notice_of(Some("<script>"), &texts), "");
        assert_eq!(notice_of(None, &texts), "");
    }

    #[test]
    fn times_show_utc_and_keep_the_instant() {
        let t = time("2026-12-06T16:00:00.123Z");
        assert!(t.contains("datetime=\"2026-12-06T16:00:00.123Z\""), "{t}");
        assert!(t.contains(">2026-12-06 16:00:00 UTC<"), "{t}");
        assert!(time("<bad>").contains("&lt;bad&gt;"));
    }
}
