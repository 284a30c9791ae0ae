//! Index: the channels listening for `postgres_changes`, by published table, each with its
//! access to that table decided once when it joins. Where that access is one claim equal to one
//! column (`auth.uid() = user_id`), the channel is also keyed by its claim, so a change is
//! checked only against the channels that could see it rather than against every channel.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{RowAccess, Subscription};
use crate::schema::QualifiedName;

/// One channel listening to one table, with its access to that table.
pub(crate) struct Listener {
    pub subscription: Arc<Subscription>,
    pub access: Result<RowAccess, String>,
}

/// Where one listener is filed: its table, and the owner column and claim value if any.
type Place = (QualifiedName, Option<(String, String)>);

type Listeners = HashMap<u64, Arc<Listener>>;

#[derive(Default)]
pub(crate) struct ChangeIndex {
    tables: HashMap<QualifiedName, TableListeners>,
    /// Subscription id → where its listeners are filed.
    places: HashMap<u64, Vec<Place>>,
}

#[derive(Default)]
struct TableListeners {
    /// Listeners whose access does not hinge on a single claim.
    any_row: Listeners,
    /// Owner column → claim value → listeners that see only rows whose column holds it.
    by_owner: HashMap<String, HashMap<String, Listeners>>,
}

impl ChangeIndex {
    /// Files `subscription` under each table it listens to, replacing what its id had; a
    /// table it may not read at all is left out, as none of its changes would pass.
    pub fn insert(
        &mut self,
        subscription: &Arc<Subscription>,
        accesses: Vec<(QualifiedName, Result<RowAccess, String>)>,
    ) {
        self.remove(subscription.id);
        let mut places = Vec::new();
        for (table, access) in accesses {
            if access == Ok(RowAccess::Denied) {
                continue;
            }
            let owner = owner_key(&access, &subscription.caller.claims);
            let listener = Arc::new(Listener {
                subscription: subscription.clone(),
                access,
            });
            let listeners = self.tables.entry(table.clone()).or_default();
            let slot = match &owner {
                Some((column, value)) => listeners
                    .by_owner
                    .entry(column.clone())
                    .or_default()
                    .entry(value.clone())
                    .or_default(),
                None => &mut listeners.any_row,
            };
            slot.insert(subscription.id, listener);
            places.push((table, owner));
        }
        if !places.is_empty() {
            self.places.insert(subscription.id, places);
        }
    }

    pub fn remove(&mut self, id: u64) {
        for (table, owner) in self.places.remove(&id).unwrap_or_default() {
            let Some(listeners) = self.tables.get_mut(&table) else {
                continue;
            };
            match owner {
                Some((column, value)) => {
                    if let Some(values) = listeners.by_owner.get_mut(&column) {
                        if let Some(slot) = values.get_mut(&value) {
                            slot.remove(&id);
                            if slot.is_empty() {
                                values.remove(&value);
                            }
                        }
                        if values.is_empty() {
                            listeners.by_owner.remove(&column);
                        }
                    }
                }
                None => {
                    listeners.any_row.remove(&id);
                }
            }
            if listeners.any_row.is_empty() && listeners.by_owner.is_empty() {
                self.tables.remove(&table);
            }
        }
    }

    /// The listeners of `table` that may see `row`: every one not keyed by owner, and the
    /// owner-keyed ones whose claim is the row's value (all of them when the row's value is
    /// not a string, leaving the answer to the access check). Each still needs that check.
    pub fn candidates(
        &self,
        table: &QualifiedName,
        row: &Map<String, Value>,
    ) -> Vec<Arc<Listener>> {
        let Some(listeners) = self.tables.get(table) else {
            return Vec::new();
        };
        let mut found: Vec<Arc<Listener>> = listeners.any_row.values().cloned().collect();
        for (column, values) in &listeners.by_owner {
            match row.get(column) {
                Some(Value::String(value)) => {
                    found.extend(
                        values
                            .get(value)
                            .into_iter()
                            .flat_map(|slot| slot.values().cloned()),
                    );
                }
                _ => found.extend(values.values().flat_map(|slot| slot.values().cloned())),
            }
        }
        found
    }
}

/// The owner column and the caller's claim value when `access` is exactly "this claim equals
/// that column" and the claim is a string: then a row passes only if its column holds that
/// string (see `evaluate::Compiled::claim_equals_column`).
fn owner_key(access: &Result<RowAccess, String>, claims: &Value) -> Option<(String, String)> {
    let Ok(RowAccess::InMemory(compiled, _)) = access else {
        return None;
    };
    let (claim, column) = compiled.claim_equals_column()?;
    let value = claims.get(claim)?.as_str()?;
    Some((column.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Caller, Role};
    use crate::realtime::changes::Binding;
    use crate::realtime::evaluate::Compiled;
    use crate::realtime::{Outbox, private};
    use serde_json::json;

    fn subscription(id: u64, role: Role, sub: Option<&str>) -> Arc<Subscription> {
        let (outbox, _, _) = Outbox::new(8);
        let mut claims = json!({"role": role.as_str()});
        if let Some(sub) = sub {
            claims["sub"] = json!(sub);
        }
        Arc::new(Subscription {
            id,
            outbox,
            topic: "realtime:items".into(),
            join_ref: None,
            private: false,
            broadcast_self: false,
            broadcast_ack: false,
            presence_enabled: false,
            presence_key: String::new(),
            bindings: vec![Binding {
                id: 1,
                event: None,
                schema: "public".into(),
                table: Some("items".into()),
                conditions: Vec::new(),
                echo: Value::Null,
            }],
            caller: Caller {
                role,
                claims: Arc::new(claims),
            },
            token: String::new(),
            permissions: private::Permissions::PUBLIC,
            expires_at: None,
        })
    }

    /// The access `default_rule` gives each role on a table with `auth.uid() = user_id`.
    fn access(role: Role) -> Result<RowAccess, String> {
        let sql = "((auth_uid() = user_id))";
        Ok(match role {
            Role::Authenticated => {
                RowAccess::InMemory(Arc::new(Compiled::new(sql).unwrap()), sql.into())
            }
            Role::ServiceRole => RowAccess::All,
            _ => RowAccess::Denied,
        })
    }

    fn ids(index: &ChangeIndex, row: Value) -> Vec<u64> {
        let items = QualifiedName::public("items");
        let mut ids: Vec<u64> = index
            .candidates(&items, row.as_object().unwrap())
            .iter()
            .map(|listener| listener.subscription.id)
            .collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn a_change_reaches_its_owners_and_the_channels_that_see_every_row_only() {
        let mut index = ChangeIndex::default();
        let channels = [
            subscription(1, Role::Authenticated, Some("u1")),
            subscription(2, Role::Authenticated, Some("u2")),
            subscription(3, Role::Authenticated, Some("u1")),
            subscription(4, Role::ServiceRole, None),
            subscription(5, Role::Anon, None),
        ];
        for channel in &channels {
            let accesses = vec![(QualifiedName::public("items"), access(channel.caller.role))];
            index.insert(channel, accesses);
        }
        assert_eq!(ids(&index, json!({"id": 1, "user_id": "u1"})), [1, 3, 4]);
        assert_eq!(ids(&index, json!({"id": 2, "user_id": "u2"})), [2, 4]);
        assert_eq!(ids(&index, json!({"id": 3, "user_id": "u9"})), [4]);
        // A value the index cannot key on leaves every owner to the access check.
        assert_eq!(ids(&index, json!({"id": 4, "user_id": 7})), [1, 2, 3, 4]);
        assert!(
            index
                .candidates(&QualifiedName::public("feed"), &Map::new())
                .is_empty()
        );

        // A refreshed token files the channel under its new claim; a leave unfiles it.
        let refreshed = subscription(1, Role::Authenticated, Some("u2"));
        index.insert(
            &refreshed,
            vec![(QualifiedName::public("items"), access(Role::Authenticated))],
        );
        index.remove(4);
        assert_eq!(ids(&index, json!({"id": 5, "user_id": "u1"})), [3]);
        assert_eq!(ids(&index, json!({"id": 6, "user_id": "u2"})), [1, 2]);
        for id in 1..=3 {
            index.remove(id);
        }
        assert!(index.tables.is_empty() && index.places.is_empty());
    }
}
