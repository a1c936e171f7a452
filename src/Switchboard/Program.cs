namespace Switchboard; internal static class Placeholder { }
