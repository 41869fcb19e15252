package container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import static container.Checks.*;
import static container.LibC.*;
import static container.Narration.*;

/** The subcommands that make and keep images: build, images, commit, rm. */
final class ImageCommands {

    /** What every image subcommand shares: the stage's -q, and where the store is. */
    abstract static class InStore implements Callable<Integer> {
        @Option(names = "--store", paramLabel = "DIR", description = "Where images, layers and containers live"
                + " (default: /var/lib/workbook with sudo, ~/.local/share/workbook without).")
        Path storeDir;

        @Option(names = {"-q", "--quiet"}, description = "Don't narrate.")
        boolean quiet;

        @ParentCommand
        Main stage;

        Store store;
        boolean rootless;

        @Override
        public Integer call() throws Exception {
            narrating = !(quiet || stage.quiet);
            store = Store.at(storeDir != null ? storeDir : stage.storeDir);
            rootless = LIBC.geteuid() != 0;
            return run();
        }

        abstract int run() throws Exception;

        /** A kept container's directory, which must exist and no longer run. */
        Path endedContainer(String name) throws IOException {
            Path container = store.container(checkContainerName(name));
            if (!Files.isDirectory(container))
                throw new StageFailure("no container " + name + " in " + container.getParent() + ": run one with --keep --name " + name);
            Path pidFile = container.resolve("pid");
            String pid = Files.exists(pidFile) ? Files.readString(pidFile).trim() : "0"; // none: half removed already
            if (!pid.equals("0") && ProcessHandle.of(Long.parseLong(pid)).isPresent())
                throw new StageFailure("container " + name + " still runs (its stage is pid " + pid + "): wait for it to end");
            return container;
        }
    }

    // tag::build[]
    @Command(name = "build", mixinStandardHelpOptions = true, sortOptions = false,
            header = "Makes an image from a directory or another image, offline, as docker build does.",
            description = {"Makes an image, offline: a first layer from a directory (or the layers of an image),",
                "and a layer on top for --copy and --remove, like a Dockerfile's FROM, COPY and RUN rm.",
                "Prints the image's name and its manifest's digest."})
    static class Build extends InStore {
        @Option(names = {"-t", "--tag"}, required = true, paramLabel = "NAME[:TAG]", description = "The image's name, such as busybox or busybox:motd.")
        String tag;

        @Option(names = "--rootfs", paramLabel = "DIR", defaultValue = "rootfs",
                description = "The directory the first layer is made of (default: ${DEFAULT-VALUE}, the busybox root made by scripts/setup).")
        Path rootfs;

        @Option(names = "--from", paramLabel = "IMAGE", description = "Start from this image's layers instead of --rootfs.")
        String from;

        @Option(names = "--copy", paramLabel = "HOST_FILE:PATH", description = "Put a copy of a host file at PATH in the image. Repeatable.")
        List<String> copies = new ArrayList<>();

        @Option(names = "--remove", paramLabel = "PATH", description = "Delete PATH from the image (a whiteout in the new layer). Repeatable.")
        List<String> removals = new ArrayList<>();

        @Override
        int run() throws IOException {
            Image.checkName(tag);
            for (String copy : copies) copied(copy);
            for (String removal : removals) pathInImage("--remove", removal);
            Image image = from != null ? Image.find(store, from)
                    : Image.EMPTY.plus(Layers.pack(store, checkRootfs(rootfs), rootless), "build --rootfs " + rootfs);
            if (!copies.isEmpty() || !removals.isEmpty())
                image = image.plus(changesLayer(Layers.unpackAll(store, image, rootless)), "build"
                        + copies.stream().map(c -> " --copy " + c).reduce("", String::concat)
                        + removals.stream().map(r -> " --remove " + r).reduce("", String::concat));
            image = image.saveAs(store, tag);
            System.out.println(image.name() + " " + image.manifest());
            return 0;
        }

        /** The new layer as overlayfs would leave it: the copies, and a whiteout for each removal. Then packed. */
        Layers.Packed changesLayer(List<Path> lower) throws IOException {
            Path changes = store.root().resolve("build-" + ProcessHandle.current().pid());
            try {
                for (String copy : copies) {
                    Path target = changes.resolve(pathInImage("--copy", copy.substring(copy.indexOf(':') + 1)));
                    Files.createDirectories(target.getParent());
                    Files.copy(copied(copy), target, StandardCopyOption.COPY_ATTRIBUTES);
                    narrate("cp " + copied(copy) + " " + target);
                }
                for (String removal : removals) {
                    String path = pathInImage("--remove", removal);
                    if (lower.stream().noneMatch(layer -> Files.exists(layer.resolve(path), Layers.NOFOLLOW)))
                        throw new StageFailure("--remove " + removal + ": the image has no such file");
                    Path target = changes.resolve(path);
                    Files.createDirectories(target.getParent());
                    Layers.makeWhiteout(target);
                    narrate("mknod " + target + " c 0 0 (a whiteout)");
                }
                return Layers.pack(store, changes, rootless);
            } finally {
                Overlay.removeTree(changes);
            }
        }

        /** The host file of --copy HOST_FILE:PATH. */
        static Path copied(String copy) {
            String[] parts = copy.split(":", -1);
            if (parts.length != 2 || !Files.isRegularFile(Path.of(parts[0])))
                throw new StageFailure("--copy " + copy + ": expected HOST_FILE:PATH, HOST_FILE a file on the host");
            if (!Files.isReadable(Path.of(parts[0])))
                throw new StageFailure("--copy " + copy + ": " + parts[0] + " is not yours to read, so not yours to put in an image");
            pathInImage("--copy", parts[1]);
            return Path.of(parts[0]);
        }

        static String pathInImage(String option, String path) {
            Path p = Path.of(path).normalize();
            if (!p.isAbsolute() || p.getNameCount() == 0)
                throw new StageFailure(option + " " + path + ": give an absolute path in the image, such as /etc/motd");
            return p.toString().substring(1);
        }
    }
    // end::build[]

    @Command(name = "images", mixinStandardHelpOptions = true, description = "Lists the images in the store, as docker images does.")
    static class ListImages extends InStore {
        @Override
        int run() {
            System.out.printf("%-24s %-19s %s%n", "IMAGE", "MANIFEST", "LAYERS");
            for (String name : Image.names(store)) {
                Image image = Image.find(store, name);
                System.out.printf("%-24s %-19s %d%n", name, image.manifest().substring(0, 19), image.layers().size());
            }
            return 0;
        }
    }

    // tag::commit[]
    @Command(name = "commit", mixinStandardHelpOptions = true, sortOptions = false,
            header = "Makes an image of a container kept by --keep, as docker commit does.",
            description = {"Makes a new image of a container kept by --keep: its image's layers,",
                "and on top a layer of what the container changed (its upper directory), as docker commit does."})
    static class Commit extends InStore {
        @Parameters(paramLabel = "CONTAINER", description = "The container's --name.")
        String name;

        @Option(names = {"-t", "--tag"}, required = true, paramLabel = "NAME[:TAG]", description = "The new image's name.")
        String tag;

        @Override
        int run() throws IOException {
            Image.checkName(tag);
            Path container = endedContainer(name);
            String[] from = Files.readString(container.resolve("image")).trim().split(" ");
            Image image = Image.load(store, from[0], from[1])
                    .plus(Layers.pack(store, Overlay.Dirs.of(container).upper(), rootless), "commit " + name).saveAs(store, tag);
            System.out.println(image.name() + " " + image.manifest());
            return 0;
        }
    }
    // end::commit[]

    @Command(name = "rm", mixinStandardHelpOptions = true, description = "Removes a container kept by --keep, as docker rm does.")
    static class Remove extends InStore {
        @Parameters(paramLabel = "CONTAINER", description = "The container's --name.")
        String name;

        @Override
        int run() throws IOException {
            Path container = endedContainer(name);
            Overlay.removeTree(container);
            narrate("rm -r " + container);
            return 0;
        }
    }

    static String checkContainerName(String name) {
        if (!name.matches("[A-Za-z0-9][A-Za-z0-9_.-]*"))
            throw new StageFailure("container name " + name + ": use letters, digits, '_', '.' and '-', starting with a letter or digit");
        return name;
    }
}
