// SPDX-License-Identifier: MIT
pragma solidity 0.8.26;

/// @title DailyGM
/// @notice Say GM once per UTC day. Same interface as OnePulse's deployed contract: the chain
///         watcher reads `GM` events and `lastGMDay` from it, and the app sends `gm()`.
contract DailyGM {
    /// @notice The UTC day number (`block.timestamp / 1 days`) of each wallet's last GM.
    mapping(address => uint256) private _lastGMDay;

    /// @notice A wallet said GM; `recipient` is zero for `gm()`, the greeted wallet for `gmTo`.
    event GM(address indexed user, address indexed recipient);

    /// @notice Says GM for today; reverts "Already GMed today" on a second call the same day.
    function gm() external {
        _record();
        emit GM(msg.sender, address(0));
    }

    /// @notice Says GM to `recipient`; reverts "Cannot GM to yourself" for the caller itself and
    ///         "Already GMed today" when the caller already said GM today.
    function gmTo(address recipient) external {
        require(recipient != msg.sender, "Cannot GM to yourself");
        _record();
        emit GM(msg.sender, recipient);
    }

    /// @notice The UTC day number of `user`'s last GM; 0 if it never said GM.
    function lastGMDay(address user) external view returns (uint256) {
        return _lastGMDay[user];
    }

    function _record() private {
        uint256 today = block.timestamp / 1 days;
        require(_lastGMDay[msg.sender] < today, "Already GMed today");
        _lastGMDay[msg.sender] = today;
    }
}
