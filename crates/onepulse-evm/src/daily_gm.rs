//! The `DailyGM` contract: `gm()`, `gmTo(address)`, `lastGMDay(address) returns (uint256)` and
//! `event GM(address indexed user, address indexed recipient)`.

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::{SolCall, SolError, SolEvent};

mod bindings {
    // The ABI and bytecode of the solc-js build (see build.rs for what happens when it is
    // missing).
    alloy::sol!(
        #[derive(Debug)]
        DailyGM,
        "../../contracts/build/DailyGM.json"
    );
}

pub use bindings::DailyGM;

/// Why contract data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The bytes did not decode as the ABI says.
    #[error("{what} does not decode: {source}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's error.
        source: Box<alloy::sol_types::Error>,
    },
    /// A `GM` log whose topics are not three words with two addresses.
    #[error("the GM log's topics are malformed: {0}")]
    Topics(String),
    /// `lastGMDay` answered a number no UTC day can be.
    #[error("lastGMDay answered {0}, which is no day number")]
    DayOutOfRange(U256),
}

/// The contract's creation bytecode (what a deployment transaction carries).
pub fn bytecode() -> &'static [u8] {
    &DailyGM::BYTECODE
}

/// `keccak256("GM(address,address)")`: topic 0 of every `GM` log.
pub fn gm_topic() -> B256 {
    DailyGM::GM::SIGNATURE_HASH
}

/// Calldata of `gm()`.
pub fn gm_calldata() -> Vec<u8> {
    DailyGM::gmCall {}.abi_encode()
}

/// Calldata of `gmTo(recipient)`.
pub fn gm_to_calldata(recipient: Address) -> Vec<u8> {
    DailyGM::gmToCall { recipient }.abi_encode()
}

/// Calldata of `lastGMDay(user)`.
pub fn last_gm_day_calldata(user: Address) -> Vec<u8> {
    DailyGM::lastGMDayCall { user }.abi_encode()
}

/// Seconds in a UTC day (Solidity's `1 days`).
pub const SECONDS_PER_DAY: u64 = 86_400;

/// The UTC day number of a block with this timestamp: `block.timestamp / 1 days`, which is what
/// `lastGMDay(user)` holds right after `user`'s GM in that block (the contract stores exactly
/// that), so a GM's day needs the block's header, not a call at that block's state.
pub fn day_of_timestamp(timestamp: u64) -> u64 {
    timestamp / SECONDS_PER_DAY
}

/// Decodes the answer of `lastGMDay` (a `uint256`) as a day number.
pub fn decode_last_gm_day(answer: &[u8]) -> Result<u64, ContractError> {
    let day = DailyGM::lastGMDayCall::abi_decode_returns(answer).map_err(|source| {
        ContractError::Decode {
            what: "the lastGMDay answer",
            source: Box::new(source),
        }
    })?;
    u64::try_from(day).map_err(|_| ContractError::DayOutOfRange(day))
}

/// A `GM` event: who said GM, and to whom (`None` for `gm()`, whose recipient is zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GmEvent {
    /// The wallet that said GM (the transaction's sender).
    pub user: Address,
    /// The greeted wallet of `gmTo`; `None` for `gm()`.
    pub recipient: Option<Address>,
}

/// Decodes a `GM` log from its topics and data (checked: topic 0 must be [`gm_topic`], both
/// addresses present and well formed, no data).
pub fn decode_gm_log(topics: &[B256], data: &[u8]) -> Result<GmEvent, ContractError> {
    if topics.len() != 3 {
        return Err(ContractError::Topics(format!(
            "{} topics, not 3 (signature, user, recipient)",
            topics.len()
        )));
    }
    // An indexed address is a word with 12 zero bytes first; the decoder would drop them.
    if let Some(word) = topics
        .iter()
        .skip(1)
        .find(|word| word.iter().take(12).any(|&b| b != 0))
    {
        return Err(ContractError::Topics(format!("{word} is not an address")));
    }
    let event = DailyGM::GM::decode_raw_log(topics.iter().copied(), data).map_err(|source| {
        ContractError::Decode {
            what: "the GM log",
            source: Box::new(source),
        }
    })?;
    Ok(GmEvent {
        user: event.user,
        recipient: (event.recipient != Address::ZERO).then_some(event.recipient),
    })
}

/// The reason string of a Solidity `Error(string)` revert (`0x08c379a0…`), if `data` is one.
pub fn revert_reason(data: &[u8]) -> Option<String> {
    alloy::sol_types::Revert::abi_decode(data)
        .ok()
        .map(|revert| revert.reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{address, b256, hex};

    #[test]
    fn selectors_and_topic_match_the_solidity_signatures() {
        assert_eq!(gm_calldata(), hex!("c0129d43"));
        assert_eq!(
            gm_topic(),
            alloy::primitives::keccak256("GM(address,address)")
        );
        let user = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        let data = last_gm_day_calldata(user);
        assert_eq!(
            data[..4],
            alloy::primitives::keccak256("lastGMDay(address)")[..4]
        );
        assert_eq!(data.len(), 36);
        assert_eq!(
            gm_to_calldata(user)[..4],
            alloy::primitives::keccak256("gmTo(address)")[..4]
        );
        assert!(bytecode().len() > 100, "the creation bytecode is there");
    }

    #[test]
    fn last_gm_day_answers_decode_or_fail_cleanly() {
        let mut word = [0u8; 32];
        word[30..].copy_from_slice(&20_454u16.to_be_bytes());
        assert_eq!(decode_last_gm_day(&word).unwrap(), 20_454);
        assert!(matches!(
            decode_last_gm_day(&[0xff; 32]),
            Err(ContractError::DayOutOfRange(_))
        ));
        for bad in [&[][..], &[1, 2, 3][..], &[0; 31][..]] {
            assert!(matches!(
                decode_last_gm_day(bad),
                Err(ContractError::Decode { .. })
            ));
        }
    }

    #[test]
    fn gm_logs_decode_with_and_without_recipient() {
        let user = b256!("000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb92266");
        let to = b256!("00000000000000000000000070997970c51812dc3a010c7d01b50e0d17dc79c8");
        let gm = decode_gm_log(&[gm_topic(), user, B256::ZERO], &[]).unwrap();
        assert_eq!(
            gm.user,
            address!("f39fd6e51aad88f6f4ce6ab8827279cfffb92266")
        );
        assert_eq!(gm.recipient, None);
        let gm_to = decode_gm_log(&[gm_topic(), user, to], &[]).unwrap();
        assert_eq!(
            gm_to.recipient,
            Some(address!("70997970c51812dc3a010c7d01b50e0d17dc79c8"))
        );
        // Wrong event, missing topics, dirty address words: errors, not panics.
        for topics in [
            vec![B256::ZERO, user, to],
            vec![gm_topic(), user],
            vec![gm_topic()],
            vec![],
            vec![gm_topic(), B256::repeat_byte(0xff), to],
        ] {
            assert!(decode_gm_log(&topics, &[]).is_err(), "{topics:?}");
        }
    }

    #[test]
    fn a_days_number_is_its_timestamp_over_a_day() {
        assert_eq!(day_of_timestamp(0), 0);
        assert_eq!(day_of_timestamp(86_399), 0);
        assert_eq!(day_of_timestamp(86_400), 1);
        // 2026-12-02T00:00:00Z and the second before it.
        assert_eq!(day_of_timestamp(1_796_169_600), 20_789);
        assert_eq!(day_of_timestamp(1_796_169_599), 20_788);
        assert_eq!(day_of_timestamp(u64::MAX), u64::MAX / 86_400);
    }

    #[test]
    fn revert_reasons_decode() {
        let data = alloy::sol_types::Revert::from("Already GMed today").abi_encode();
        assert_eq!(revert_reason(&data).as_deref(), Some("Already GMed today"));
        assert_eq!(revert_reason(&[0x08, 0xc3]), None);
    }
}
