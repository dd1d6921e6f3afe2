//! Roles a hub account can hold. A person may hold several.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Delivers datasets (health insurance, hospitals, registries).
    Producer,
    /// Applies for access and works in project workspaces.
    Researcher,
    /// The desk's secretariat: checks requests for completeness.
    Secretariat,
    /// The ethics/scientific committee (CESREES in France): gives an opinion.
    Committee,
    /// The authority that authorises (CNIL in France).
    Authority,
    /// Output checker: approves or refuses releases.
    Checker,
    /// Reads the audit trail and alerts.
    SecurityOfficer,
    /// Administers accounts and configuration.
    Admin,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Producer,
        Role::Researcher,
        Role::Secretariat,
        Role::Committee,
        Role::Authority,
        Role::Checker,
        Role::SecurityOfficer,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Researcher => "researcher",
            Role::Secretariat => "secretariat",
            Role::Committee => "committee",
            Role::Authority => "authority",
            Role::Checker => "checker",
            Role::SecurityOfficer => "security_officer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown role {0:?} (expected one of producer, researcher, secretariat, committee, authority, checker, security_officer, admin)"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// Parses a comma-separated list of roles such as `"researcher,checker"`.
pub fn parse_roles(s: &str) -> Result<Vec<Role>, UnknownRole> {
    let mut roles: Vec<Role> = s
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(Role::from_str)
        .collect::<Result<_, _>>()?;
    roles.sort();
    roles.dedup();
    Ok(roles)
}

pub fn format_roles(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert_eq!(
            parse_roles("checker, researcher,checker").unwrap(),
            vec![Role::Researcher, Role::Checker]
        );
        assert!(parse_roles("researcher,root").is_err());
    }
}
