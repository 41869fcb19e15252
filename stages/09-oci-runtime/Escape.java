package container;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static container.LibC.*;
import static container.Main.HOST_ROOT;
import static container.Narration.*;

/** Stage 01's chroot escape, tried again from inside the new root (--escape). */
final class Escape {

    // tag::escape[]
    /** Stage 01's escape, tried again. ".." at the top of a mount namespace leads nowhere. */
    static void tryToBreakOut() {
        try {
            Files.deleteIfExists(Path.of("breakout")); // left by a run that was killed mid-escape
        } catch (IOException ignored) {
            // mkdir will say what is wrong
        }
        check("mkdir(\"breakout\", 0755)", () -> LIBC.mkdir("breakout", 0755), "");
        check("chroot(\"breakout\")", () -> LIBC.chroot("breakout"), "");
        int depth = 64;
        int failed = 0;
        for (int i = 0; i < depth; i++) if (LIBC.chdir("..") != 0) failed++;
        narrate("chdir(\"..\") x " + depth + (failed == 0 ? " = 0 each time" : ": " + failed + " of them = -1"));
        check("chroot(\".\")", () -> LIBC.chroot("."), "");
        narrate(rootIdentity().equals(HOST_ROOT) ? "escaped: \"/\" is the host's root directory again"
                : "still inside: \"/\" is the container's root, the host's is unreachable");
    }
    // end::escape[]

    static Map<String, Object> rootIdentity() {
        try {
            return Files.readAttributes(Path.of("/"), "unix:dev,ino");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
