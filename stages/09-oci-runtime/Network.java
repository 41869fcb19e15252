package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

import static container.CrashRecord.*;
import static container.KernelFiles.*;
import static container.Namespaces.*;
import static container.Narration.*;
import static container.Shell.*;

// tag::network[]
/**
 * The host's side: one bridge for all containers with the gateway address on it, IPv4
 * forwarding, and a MASQUERADE rule. The first container to arrive sets them up and writes
 * down how the host was; the last to leave puts it back. What it writes down is kept per
 * network namespace, so the tests can play "the host" in a namespace of their own.
 */
final class Network {
    final Path state, members;
    final String firewall;
    Address address;
    String vethName;

    Network(String netns, String firewall) {
        this.state = RECORDS.resolve(NAME + "." + netns + ".host");
        this.members = RECORDS.resolve(NAME + "." + netns + ".members");
        this.firewall = firewall;
    }

    static Network find() {
        if (!commandExists("ip", "-V")) throw new StageFailure("no ip command: install iproute2 (sudo apt-get install iproute2)");
        String firewall = commandExists("iptables", "--version") ? "iptables" : commandExists("nft", "--version") ? "nft" : null;
        if (firewall == null) throw new StageFailure("neither iptables nor nft is installed: sudo apt-get install iptables");
        String netns = namespaceOf("self", "net");
        return new Network("net" + netns, firewall);
    }

    /** Picks (or checks) the container's address and, for the first container, sets up the host. */
    Address join(Address requested) throws IOException {
        Files.createDirectories(RECORDS);
        try (Lock held = Lock.take()) {
            Properties host = load(state);
            Map<Long, String> live = liveMembers();
            Address subnet = host.isEmpty() ? (requested != null ? requested : Address.DEFAULT_SUBNET)
                    : Address.parse(host.getProperty("gateway"));
            if (requested != null && !requested.inSubnetOf(subnet))
                throw new StageFailure("--ip " + requested + " is outside the bridge's subnet " + subnet.subnet() + " (other containers use it)");
            address = requested != null ? requested : firstFree(subnet, live.values());
            if (requested != null && (live.containsValue(requested.host()) || requested.ip() == subnet.network() + 1))
                throw new StageFailure("--ip " + requested + ": that address is already in use on " + BRIDGE);
            if (host.isEmpty()) {
                try {
                    setUpHost(address.gateway());
                } catch (RuntimeException | IOException e) {
                    tearDownHost(); // half a set-up is undone now, not left for the next run
                    throw e;
                }
            }
            live.put(ProcessHandle.current().pid(), address.host());
            saveMembers(live);
        }
        return address;
    }

    Address firstFree(Address subnet, Collection<String> used) {
        for (long candidate = subnet.network() + 2; candidate < subnet.broadcast(); candidate++)
            if (!used.contains(subnet.withIp(candidate).host())) return subnet.withIp(candidate);
        throw new StageFailure("no free address left in " + subnet.subnet());
    }

    /** The bridge with the gateway address, forwarding on, and NAT for the subnet. */
    void setUpHost(Address gateway) throws IOException {
        if (linkExists(BRIDGE))
            throw new StageFailure("a bridge " + BRIDGE + " exists that no container of this stage uses: remove it (sudo ip link del "
                    + BRIDGE + ") or run sudo scripts/reset");
        Properties host = new Properties();
        host.setProperty("gateway", gateway.toString());
        host.setProperty("firewall", firewall);
        host.setProperty("forwardingWas", read(IP_FORWARD).trim());
        store(state, host); // written first: whatever follows, a crash is undone by the next run
        sh("ip", "link", "add", BRIDGE, "type", "bridge");
        sh("ip", "addr", "add", gateway.toString(), "dev", BRIDGE);
        sh("ip", "link", "set", BRIDGE, "up");
        if (!host.getProperty("forwardingWas").equals("1")) write(IP_FORWARD, "1");
        addMasquerade(gateway.subnet());
    }

    // tag::nat[]
    /** Packets from the subnet that leave by another interface than the bridge get the host's address. */
    void addMasquerade(String subnet) {
        if (firewall.equals("iptables"))
            sh("iptables", "-t", "nat", "-A", "POSTROUTING", "-s", subnet, "!", "-o", BRIDGE, "-j", "MASQUERADE");
        else {
            sh("nft", "add", "table", "ip", "workbook");
            sh("nft", "add", "chain", "ip", "workbook", "postrouting", "{ type nat hook postrouting priority srcnat; }");
            sh("nft", "add", "rule", "ip", "workbook", "postrouting", "ip", "saddr", subnet, "oifname", "!=", BRIDGE, "masquerade");
        }
    }
    // end::nat[]

    /** Puts the host back as the first container found it. */
    void tearDownHost() throws IOException {
        Properties host = load(state);
        if (host.isEmpty()) return;
        String subnet = Address.parse(host.getProperty("gateway")).subnet();
        if (host.getProperty("firewall").equals("iptables"))
            shIfPresent(List.of("iptables", "-t", "nat", "-C", "POSTROUTING", "-s", subnet, "!", "-o", BRIDGE, "-j", "MASQUERADE"),
                    "iptables", "-t", "nat", "-D", "POSTROUTING", "-s", subnet, "!", "-o", BRIDGE, "-j", "MASQUERADE");
        else shIfPresent(List.of("nft", "list", "table", "ip", "workbook"), "nft", "delete", "table", "ip", "workbook");
        if (!read(IP_FORWARD).trim().equals(host.getProperty("forwardingWas"))) write(IP_FORWARD, host.getProperty("forwardingWas"));
        if (linkExists(BRIDGE)) sh("ip", "link", "del", BRIDGE);
        Files.deleteIfExists(state);
    }

    // tag::connect[]
    /**
     * The pair is made on the host, one end moved into the container's network namespace
     * and renamed eth0 there, the other put on the bridge. What happens inside the
     * container's namespace is done with nsenter, as you would by hand.
     */
    void connect(int pid, Address address) {
        vethName = "wb-" + pid;
        String inside = "wbc-" + pid, netns = "--net=/proc/" + pid + "/ns/net";
        sh("ip", "link", "add", vethName, "type", "veth", "peer", "name", inside);
        sh("ip", "link", "set", inside, "netns", Integer.toString(pid));
        sh("nsenter", netns, "ip", "link", "set", inside, "name", "eth0");
        sh("nsenter", netns, "ip", "addr", "add", address.toString(), "dev", "eth0");
        sh("nsenter", netns, "ip", "link", "set", "eth0", "up");
        sh("nsenter", netns, "ip", "route", "add", "default", "via", address.gateway().host());
        sh("ip", "link", "set", vethName, "master", BRIDGE);
        sh("ip", "link", "set", vethName, "up");
        printTopology(netns, address);
    }
    // end::connect[]

    /** eth0@ifN inside names its peer's ifindex on the host, as the articles show with ip link. */
    void printTopology(String netns, Address address) {
        String eth0 = shQuiet("nsenter", netns, "ip", "-o", "link", "show", "eth0").split(":")[1].trim(); // "eth0@if27"
        String hostIndex = shQuiet("ip", "-o", "link", "show", vethName).split(":")[0].trim();
        narrate("topology: container " + eth0 + " " + address + "  <==veth==>  " + vethName + " (ifindex " + hostIndex + ") on "
                + BRIDGE + " " + address.gateway() + "  ==>  forwarding, " + firewall + " MASQUERADE  ==>  the host's routes");
    }

    /**
     * The pair goes with the container's namespace (deleting either end deletes both), so
     * its host end may be gone already. The last container out puts the host back. Never
     * throws: the rest of the clean-up must run whatever happens here.
     */
    void leave() {
        try {
            if (vethName != null && linkExists(vethName)) commandExists("ip", "link", "del", vethName);
            try (Lock held = Lock.take()) {
                Map<Long, String> live = liveMembers();
                live.remove(ProcessHandle.current().pid());
                saveMembers(live);
                if (live.isEmpty()) tearDownHost();
            }
        } catch (IOException | RuntimeException e) {
            System.err.println(NAME + ": could not put the host's network back: " + e.getMessage() + " (the next run will try again)");
        }
    }

    /** Containers of this stage in this network namespace whose parent still runs: PID -> address. */
    Map<Long, String> liveMembers() throws IOException {
        Map<Long, String> live = new TreeMap<>();
        load(members).forEach((pid, address) -> {
            if (ProcessHandle.of(Long.parseLong((String) pid)).isPresent()) live.put(Long.parseLong((String) pid), (String) address);
        });
        return live;
    }

    void saveMembers(Map<Long, String> live) throws IOException {
        if (live.isEmpty()) {
            Files.deleteIfExists(members);
            return;
        }
        Properties p = new Properties();
        live.forEach((pid, address) -> p.setProperty(pid.toString(), address));
        store(members, p);
    }

    /** At start: if the containers of crashed runs were the only ones, the host goes back first. */
    void undoCrashedRuns() throws IOException {
        try (Lock held = Lock.take()) {
            if (liveMembers().isEmpty() && Files.exists(state)) {
                narrate("undoing what crashed runs left on the host's network");
                tearDownHost();
                Files.deleteIfExists(members);
            }
        }
    }
    // end::network[]

    static final String BRIDGE = "wb0";

    static final Path IP_FORWARD = Path.of("/proc/sys/net/ipv4/ip_forward");

    /**
     * Held while a container arrives or leaves, so that two of them never both think they are
     * the first or the last. The lock file stays in /run/lock, as lock files there do.
     */
    record Lock(java.nio.channels.FileChannel channel) implements AutoCloseable {
        static final Path FILE = Path.of("/run/lock/workbook-05-veth-bridge.lock");

        static Lock take() throws IOException {
            var channel = java.nio.channels.FileChannel.open(FILE, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            channel.lock();
            return new Lock(channel);
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }

    static Properties load(Path file) throws IOException {
        Properties p = new Properties();
        if (Files.exists(file)) try (var in = Files.newInputStream(file)) { p.load(in); }
        return p;
    }

    static void store(Path file, Properties p) throws IOException {
        try (var out = Files.newOutputStream(file)) { p.store(out, null); }
    }

    /** Asks ip, not /sys/class/net: sysfs shows the network namespace it was mounted in, not ours. */
    static boolean linkExists(String name) {
        return commandExists("ip", "link", "show", name);
    }
    // tag::network[]
}
// end::network[]
