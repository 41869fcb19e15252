package container;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static container.Narration.*;

/** Which namespaces a process is in, as /proc/PID/ns/ tells the host. */
final class Namespaces {

    // tag::namespaces-table[]
    /** Each namespace is a kernel object with an inode number; /proc/PID/ns/ shows which one a process is in. */
    static void printNamespaces(int pid) {
        narrate(String.format("%-18s %-12s %s", "namespace", "host", "container"));
        for (String kind : namespaceKinds()) {
            String host = namespaceOf("self", kind), inside = namespaceOf(Integer.toString(pid), kind);
            String note = !host.equals(inside) ? "   new" : kind.equals("cgroup") ? "   init's own, once in its groups" : "";
            narrate(String.format("%-18s %-12s %s", kind, host, inside + note));
        }
    }

    static String namespaceOf(String pid, String kind) {
        try {
            String link = Files.readSymbolicLink(Path.of("/proc", pid, "ns", kind)).toString(); // "uts:[4026531838]"
            return link.substring(link.indexOf('[') + 1, link.length() - 1);
        } catch (IOException e) {
            return "?";
        }
    }
    // end::namespaces-table[]

    static List<String> namespaceKinds() {
        try (Stream<Path> entries = Files.list(Path.of("/proc/self/ns"))) {
            return entries.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
