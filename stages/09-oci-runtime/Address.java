package container;

import static container.Narration.*;

// tag::address[]
/** An IPv4 address and its prefix length, as in 10.213.0.7/24. */
record Address(long ip, int prefix) {
    static final Address DEFAULT_SUBNET = new Address(parseIp("10.213.0.0"), 24);

    static Address parse(String text) {
        String[] parts = text.split("/");
        try {
            if (parts.length != 2) throw new IllegalArgumentException();
            int prefix = Integer.parseInt(parts[1]);
            if (prefix < 8 || prefix > 30) throw new IllegalArgumentException();
            Address address = new Address(parseIp(parts[0]), prefix);
            if (address.ip() == address.network() || address.ip() == address.broadcast()) throw new IllegalArgumentException();
            return address;
        } catch (IllegalArgumentException e) {
            throw new StageFailure("--ip " + text + ": expected a host address and a prefix length from 8 to 30, e.g. 10.213.0.10/24");
        }
    }

    static long parseIp(String dotted) {
        String[] bytes = dotted.split("\\.");
        if (bytes.length != 4) throw new IllegalArgumentException();
        long ip = 0;
        for (String b : bytes) {
            int value = Integer.parseInt(b);
            if (value < 0 || value > 255) throw new IllegalArgumentException();
            ip = ip << 8 | value;
        }
        return ip;
    }

    long network() { return ip & -(1L << (32 - prefix)) & 0xffffffffL; }
    long broadcast() { return network() | ((1L << (32 - prefix)) - 1); }
    Address gateway() { return new Address(network() + 1, prefix); }
    Address withIp(long other) { return new Address(other, prefix); }
    boolean inSubnetOf(Address other) { return prefix == other.prefix && network() == other.network(); }
    String host() { return (ip >> 24 & 255) + "." + (ip >> 16 & 255) + "." + (ip >> 8 & 255) + "." + (ip & 255); }
    String subnet() { return withIp(network()).host() + "/" + prefix; }
    @Override public String toString() { return host() + "/" + prefix; }
}
// end::address[]
