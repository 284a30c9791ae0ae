//! Outgoing auth email: each kind's subject and HTML from `[auth.email.template.<kind>]` or
//! Supabase's defaults, rendered with GoTrue's template variables (`{{ .ConfirmationURL }}`,
//! `{{ .Token }}`, …) and delivered to the local inbox, or through the SMTP server of
//! `[auth.email.smtp]` (lettre).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::inbox::{Inbox, Message};
use crate::config::{Project, SmtpConfig};

/// The kinds of email GoTrue sends, named as config.toml's template tables are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Confirmation,
    Invite,
    MagicLink,
    Recovery,
    EmailChange,
    Reauthentication,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Confirmation,
        Kind::Invite,
        Kind::MagicLink,
        Kind::Recovery,
        Kind::EmailChange,
        Kind::Reauthentication,
    ];

    /// The `[auth.email.template.<name>]` key.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Confirmation => "confirmation",
            Kind::Invite => "invite",
            Kind::MagicLink => "magic_link",
            Kind::Recovery => "recovery",
            Kind::EmailChange => "email_change",
            Kind::Reauthentication => "reauthentication",
        }
    }

    /// What GoTrue's "Error sending … email" calls it.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Confirmation => "confirmation",
            Kind::Invite => "invite",
            Kind::MagicLink => "magic link",
            Kind::Recovery => "recovery",
            Kind::EmailChange => "email change",
            Kind::Reauthentication => "reauthentication",
        }
    }

    fn default_subject(self) -> &'static str {
        match self {
            Kind::Confirmation => "Confirm Your Signup",
            Kind::Invite => "You have been invited",
            Kind::MagicLink => "Your Magic Link",
            Kind::Recovery => "Reset Your Password",
            Kind::EmailChange => "Confirm Email Change",
            Kind::Reauthentication => "Confirm reauthentication",
        }
    }

    /// GoTrue's default bodies.
    fn default_body(self) -> &'static str {
        match self {
            Kind::Confirmation => {
                "<h2>Confirm your signup</h2>\n\n<p>Follow this link to confirm your user:</p>\n<p><a href=\"{{ .ConfirmationURL }}\">Confirm your mail</a></p>\n<p>Alternatively, enter the code: {{ .Token }}</p>"
            }
            Kind::Invite => {
                "<h2>You have been invited</h2>\n\n<p>You have been invited to create a user on {{ .SiteURL }}. Follow this link to accept the invite:</p>\n<p><a href=\"{{ .ConfirmationURL }}\">Accept the invite</a></p>\n<p>Alternatively, enter the code: {{ .Token }}</p>"
            }
            Kind::MagicLink => {
                "<h2>Magic Link</h2>\n\n<p>Follow this link to login:</p>\n<p><a href=\"{{ .ConfirmationURL }}\">Log In</a></p>\n<p>Alternatively, enter the code: {{ .Token }}</p>"
            }
            Kind::Recovery => {
                "<h2>Reset Password</h2>\n\n<p>Follow this link to reset the password for your user:</p>\n<p><a href=\"{{ .ConfirmationURL }}\">Reset Password</a></p>\n<p>Alternatively, enter the code: {{ .Token }}</p>"
            }
            Kind::EmailChange => {
                "<h2>Confirm Change of Email</h2>\n\n<p>Follow this link to confirm the update of your email from {{ .Email }} to {{ .NewEmail }}:</p>\n<p><a href=\"{{ .ConfirmationURL }}\">Change Email</a></p>\n<p>Alternatively, enter the code: {{ .Token }}</p>"
            }
            Kind::Reauthentication => {
                "<h2>Confirm reauthentication</h2>\n\n<p>Enter the code: {{ .Token }}</p>"
            }
        }
    }
}

/// What one email says: the recipient, and the values its template can name.
pub struct Email<'a> {
    pub kind: Kind,
    pub to: &'a str,
    /// `{{ .ConfirmationURL }}`: the `/verify` link (none for reauthentication).
    pub link: Option<String>,
    /// `{{ .Token }}`: the one-time code.
    pub token: &'a str,
    /// `{{ .TokenHash }}`.
    pub token_hash: &'a str,
    pub site_url: &'a str,
    pub redirect_to: &'a str,
    /// `{{ .Email }}`: the user's (current) address.
    pub email: &'a str,
    /// `{{ .NewEmail }}`, for an email change.
    pub new_email: &'a str,
    /// `{{ .Data.key }}`: the user's metadata.
    pub data: &'a serde_json::Value,
}

/// Renders and delivers auth email.
pub struct Mailer {
    templates: HashMap<Kind, (String, String)>,
    inbox: Arc<Inbox>,
    smtp: Option<Smtp>,
}

/// An SMTP server to send through, and the sender every message is from.
struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Smtp {
    /// Connects as GoTrue's mailer (gomail) does: TLS from the start on port 465, otherwise
    /// STARTTLS when the server offers it; credentials when a user is set.
    fn new(config: &SmtpConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !config.host.is_empty(),
            "[auth.email.smtp] host is required"
        );
        let tls = TlsParameters::new(config.host.clone())?;
        let tls = if config.port == 465 {
            Tls::Wrapper(tls)
        } else {
            Tls::Opportunistic(tls)
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls);
        if !config.user.is_empty() {
            builder =
                builder.credentials(Credentials::new(config.user.clone(), config.pass.clone()));
        }
        let address = config.admin_email.parse().with_context(|| {
            format!(
                "[auth.email.smtp] admin_email {:?} is not an email address",
                config.admin_email
            )
        })?;
        let name = (!config.sender_name.is_empty()).then(|| config.sender_name.clone());
        Ok(Self {
            transport: builder.build(),
            from: Mailbox::new(name, address),
        })
    }

    async fn send(&self, message: Message) -> Result<(), String> {
        let to: Mailbox = message.to.parse().map_err(|error| format!("{error}"))?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject)
            .header(ContentType::TEXT_HTML)
            .body(message.html)
            .map_err(|error| error.to_string())?;
        self.transport
            .send(email)
            .await
            .map(drop)
            .map_err(|error| error.to_string())
    }
}

impl Mailer {
    /// Reads the templates config.toml names; a missing file is an error at start, as the
    /// Supabase CLI's is.
    pub fn new(project: &Project, inbox: Arc<Inbox>) -> anyhow::Result<Self> {
        let configured = &project.config.auth.email.template;
        let mut templates = HashMap::new();
        for kind in Kind::ALL {
            let config = configured.get(kind.name());
            let subject = config
                .and_then(|config| config.subject.clone())
                .unwrap_or_else(|| kind.default_subject().to_owned());
            let body = match config.and_then(|config| config.content_path.as_deref()) {
                Some(path) => {
                    let path = project.workdir.join(path);
                    std::fs::read_to_string(&path).map_err(|error| {
                        anyhow::anyhow!(
                            "[auth.email.template.{}] content_path {}: {error}",
                            kind.name(),
                            path.display()
                        )
                    })?
                }
                None => kind.default_body().to_owned(),
            };
            templates.insert(kind, (subject, body));
        }
        let smtp = match &project.config.auth.email.smtp {
            Some(config) if config.enabled => Some(Smtp::new(config)?),
            _ => None,
        };
        Ok(Self {
            templates,
            inbox,
            smtp,
        })
    }

    pub fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }

    /// Renders `email` and delivers it; an SMTP server's refusal is the error.
    pub async fn send(&self, email: Email<'_>) -> Result<(), String> {
        let (subject, body) = &self.templates[&email.kind];
        let message = Message {
            to: email.to.to_owned(),
            subject: render(subject, &email, false),
            html: render(body, &email, true),
            kind: email.kind.name(),
            link: email.link.clone(),
            code: (!email.token.is_empty()).then(|| email.token.to_owned()),
        };
        match &self.smtp {
            Some(smtp) => smtp.send(message).await,
            None => {
                self.inbox.deliver(message);
                Ok(())
            }
        }
    }
}

/// Replaces each `{{ .Name }}` (and `{{ .Data.key }}`) with its value, HTML-escaped in a body
/// as Go's html/template does; an unknown name renders empty.
fn render(template: &str, email: &Email, html: bool) -> String {
    static VARIABLE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)\s*\}\}")
            .expect("valid pattern")
    });
    VARIABLE
        .replace_all(template, |captures: &regex::Captures| {
            let name = &captures[1];
            let value = match name {
                "ConfirmationURL" => email.link.clone().unwrap_or_default(),
                "Token" => email.token.to_owned(),
                "TokenHash" => email.token_hash.to_owned(),
                "SiteURL" => email.site_url.to_owned(),
                "RedirectTo" => email.redirect_to.to_owned(),
                "Email" => email.email.to_owned(),
                "NewEmail" => email.new_email.to_owned(),
                _ => name
                    .strip_prefix("Data.")
                    .and_then(|key| email.data.get(key))
                    .map(|value| match value {
                        serde_json::Value::String(text) => text.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or_default(),
            };
            if html { escape(&value) } else { value }
        })
        .into_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_filled_in_and_escaped_in_the_body() {
        let data = serde_json::json!({"name": "Ana <3"});
        let email = Email {
            kind: Kind::MagicLink,
            to: "ana@example.com",
            link: Some("http://h/auth/v1/verify?token=abc&type=magiclink".into()),
            token: "123456",
            token_hash: "abc",
            site_url: "http://127.0.0.1:3000",
            redirect_to: "http://127.0.0.1:3000",
            email: "ana@example.com",
            new_email: "",
            data: &data,
        };
        let body = render(
            "<a href=\"{{ .ConfirmationURL }}\">{{.Token}}</a> {{ .Data.name }} {{ .Unknown }}!",
            &email,
            true,
        );
        assert_eq!(
            body,
            "<a href=\"http://h/auth/v1/verify?token=abc&amp;type=magiclink\">123456</a> Ana &lt;3 !"
        );
        assert_eq!(
            render("Code {{ .Token }} for {{ .Email }}", &email, false),
            "Code 123456 for ana@example.com"
        );
    }
}
