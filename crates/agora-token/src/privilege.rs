//! RTC privileges and how Agora's builders map roles onto them.

use std::collections::BTreeMap;

/// An RTC privilege, numbered as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u16)]
pub enum Privilege {
    JoinChannel = 1,
    PublishAudioStream = 2,
    PublishVideoStream = 3,
    PublishDataStream = 4,
}

/// The role a token grants, as Agora's `RtcTokenBuilder` maps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Join and publish audio, video and data.
    Publisher,
    /// Join only.
    Subscriber,
}

impl Role {
    /// The role's name, as Agora's SDKs and the token API spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Publisher => "publisher",
            Role::Subscriber => "subscriber",
        }
    }

    pub const fn privileges(self) -> &'static [Privilege] {
        match self {
            Role::Publisher => &[
                Privilege::JoinChannel,
                Privilege::PublishAudioStream,
                Privilege::PublishVideoStream,
                Privilege::PublishDataStream,
            ],
            Role::Subscriber => &[Privilege::JoinChannel],
        }
    }

    /// The role's privilege map with every privilege set to `value`.
    pub(crate) fn privilege_map(self, value: u32) -> BTreeMap<u16, u32> {
        self.privileges()
            .iter()
            .map(|p| (*p as u16, value))
            .collect()
    }
}
