import ArgumentParser

/// Exit statuses, from sysexits.h where one fits, so scripts and the daemon can tell causes apart.
public enum QuantdExit {
    /// The input is malformed, or uses something unsupported (EX_DATAERR).
    public static let badInput = ExitCode(65)
    /// The input cannot be opened (EX_NOINPUT).
    public static let cannotOpen = ExitCode(66)
    /// The input is cut short; it may still be arriving (EX_TEMPFAIL).
    public static let truncated = ExitCode(75)
    /// `--verify` found non-finite values or scales in a file that is otherwise well formed.
    public static let nonFiniteData = ExitCode(3)
    /// `watch`: ROOT is owned by another running quantd (EX_UNAVAILABLE).
    public static let rootBusy = ExitCode(69)
    /// `watch`: ROOT's folders cannot be created or its ledger opened (EX_CANTCREAT).
    public static let cannotSetUp = ExitCode(73)
    /// `watch`: the daemon settings are invalid (EX_CONFIG); systemd should not restart on it.
    public static let badSettings = ExitCode(78)
}
