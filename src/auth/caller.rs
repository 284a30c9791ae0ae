//! Caller: the verified identity a request runs as — its database role and its JWT claims.

use std::sync::Arc;

use serde_json::Value;

/// The Postgres role a request runs as, from the token's `role` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Anon,
    Authenticated,
    ServiceRole,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Anon => "anon",
            Role::Authenticated => "authenticated",
            Role::ServiceRole => "service_role",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "anon" => Some(Role::Anon),
            "authenticated" => Some(Role::Authenticated),
            "service_role" => Some(Role::ServiceRole),
            _ => None,
        }
    }
}

/// A verified caller. Only the key verifier constructs one from a request, so holding a
/// `Caller` means the claims were checked.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
    /// The full verified claims (with `role`); what `auth.jwt()` returns.
    pub claims: Arc<Value>,
}

impl Caller {
    /// The server's own identity (migrations, admin work): service_role with no user.
    pub fn service() -> Self {
        Self {
            role: Role::ServiceRole,
            claims: Arc::new(serde_json::json!({"role": "service_role"})),
        }
    }

    /// The signed-in user's id (`sub`), if any.
    pub fn user_id(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }

    /// Whether row-level security is bypassed (service_role has BYPASSRLS in Supabase).
    pub fn bypasses_rls(&self) -> bool {
        self.role == Role::ServiceRole
    }
}
