package container;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static container.Narration.*;

// tag::image[]
/**
 * An OCI image is three kinds of JSON document and some tar files, each a blob named by its
 * digest: index.json names a manifest; the manifest names a config and the layers, in order;
 * the config says what to run and lists each layer's diff_id, the digest of its tar before
 * gzip. Names point at digests and digests at bytes, so a name is all it takes to find, and
 * check, everything else.
 */
record Image(String name, String manifest, List<Descriptor> layers, List<String> diffIds, List<String> cmd, List<String> history) {
    static final String MANIFEST = "application/vnd.oci.image.manifest.v1+json",
            CONFIG = "application/vnd.oci.image.config.v1+json",
            LAYER = "application/vnd.oci.image.layer.v1.tar+gzip",
            REF_NAME = "org.opencontainers.image.ref.name";

    /** What a document says of a blob: its kind, its digest and its size. */
    record Descriptor(String mediaType, String digest, long size) {
        Map<String, Object> json() {
            return Json.of("mediaType", mediaType, "digest", digest, "size", size);
        }

        static Descriptor of(Object json) {
            Map<String, Object> map = Json.object(json, "a descriptor");
            return new Descriptor((String) map.get("mediaType"), (String) map.get("digest"), ((Number) map.get("size")).longValue());
        }
    }

    /** Follows a name from index.json to the manifest and the config, checking each blob. */
    static Image find(Store store, String name) {
        Map<String, Object> entry = index(store).stream().filter(m -> name.equals(refName(m))).findFirst()
                .orElseThrow(() -> new StageFailure("no image " + name + " in " + store.layout() + " ("
                        + (names(store).isEmpty() ? "it has none" : "it has " + String.join(", ", names(store)))
                        + "): make one with `build --tag " + name + "`"));
        return load(store, name, (String) entry.get("digest"));
    }

    static Image load(Store store, String name, String manifestDigest) {
        try {
            return read(store, name, manifestDigest);
        } catch (ClassCastException | NullPointerException e) {
            throw new StageFailure("image " + name + " (" + manifestDigest + ") is not what an OCI image has: a field is missing or of the wrong kind");
        }
    }

    static Image read(Store store, String name, String manifestDigest) {
        Map<String, Object> manifest = document(store, manifestDigest, "manifest");
        Descriptor config = Descriptor.of(manifest.get("config"));
        List<Descriptor> layers = ((List<?>) manifest.get("layers")).stream().map(Descriptor::of).toList();
        Map<String, Object> configJson = document(store, config.digest(), "config");
        Map<String, Object> rootfs = Json.object(configJson.get("rootfs"), "the config's rootfs");
        List<String> diffIds = ((List<?>) rootfs.get("diff_ids")).stream().map(String::valueOf).toList();
        for (String diffId : diffIds) {
            try {
                Store.checkDigest(diffId);
            } catch (StageFailure e) {
                throw new StageFailure("image " + name + ": a diff_id in its config is " + e.getMessage());
            }
        }
        if (diffIds.size() != layers.size())
            throw new StageFailure("image " + name + ": the manifest has " + layers.size() + " layers, the config " + diffIds.size() + " diff_ids");
        Object cmd = Json.object(configJson.getOrDefault("config", Map.of()), "the config's config").get("Cmd");
        List<String> history = ((List<?>) configJson.getOrDefault("history", List.of())).stream()
                .map(h -> String.valueOf(Json.object(h, "a history entry").get("created_by"))).toList();
        return new Image(name, manifestDigest, layers, diffIds,
                cmd == null ? List.of() : ((List<?>) cmd).stream().map(String.class::cast).toList(), history);
    }

    static Map<String, Object> document(Store store, String digest, String what) {
        try {
            return Json.object(Json.parse(new String(store.read(digest), StandardCharsets.UTF_8)), "the " + what);
        } catch (IllegalArgumentException e) {
            throw new StageFailure("the " + what + " " + digest + " is not what an OCI image has: " + e.getMessage());
        }
    }

    /** What a build starts from without --from: no layer yet, and a shell to run. */
    static final Image EMPTY = new Image(null, null, List.of(), List.of(), List.of("/bin/sh"), List.of());

    /** This image with one more layer on top (not yet saved), and the step that made it. */
    Image plus(Layers.Packed top, String step) {
        List<Descriptor> moreLayers = new ArrayList<>(layers);
        moreLayers.add(top.blob());
        List<String> moreDiffIds = new ArrayList<>(diffIds), moreHistory = new ArrayList<>(history);
        moreDiffIds.add(top.diffId());
        moreHistory.add(step);
        return new Image(null, null, moreLayers, moreDiffIds, cmd, moreHistory);
    }

    /** Writes the config and the manifest as blobs, and names the manifest in index.json. */
    Image saveAs(Store store, String name) throws IOException {
        Map<String, Object> config = Json.of(
                "architecture", System.getProperty("os.arch").equals("aarch64") ? "arm64" : "amd64",
                "os", "linux",
                "config", Json.of("Env", List.of("PATH=" + String.join(":", Init.INSIDE_PATH)), "Cmd", cmd),
                "rootfs", Json.of("type", "layers", "diff_ids", diffIds),
                "history", history.stream().map(h -> Json.of("created_by", h)).toList());
        Descriptor configBlob = put(store, CONFIG, Json.write(config));
        Map<String, Object> manifest = Json.of("schemaVersion", 2, "mediaType", MANIFEST,
                "config", configBlob.json(), "layers", layers.stream().map(Descriptor::json).toList());
        Descriptor manifestBlob = put(store, MANIFEST, Json.write(manifest));
        name(store, name, manifestBlob);
        return new Image(name, manifestBlob.digest(), layers, diffIds, cmd, history);
    }

    static Descriptor put(Store store, String mediaType, String json) throws IOException {
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        Descriptor blob = new Descriptor(mediaType, store.put(bytes), bytes.length);
        narrate("blob " + blob.digest() + ": the " + (mediaType.equals(CONFIG) ? "config" : "manifest") + ", " + bytes.length + " bytes");
        return blob;
    }

    /** index.json gets an entry for the name, in place of the one it had. */
    static void name(Store store, String name, Descriptor manifest) throws IOException {
        List<Map<String, Object>> entries = new ArrayList<>(index(store).stream().filter(m -> !name.equals(refName(m))).toList());
        Map<String, Object> entry = manifest.json();
        entry.put("annotations", Json.of(REF_NAME, name));
        entries.add(entry);
        Map<String, Object> index = Json.of("schemaVersion", 2, "mediaType", "application/vnd.oci.image.index.v1+json", "manifests", entries);
        Files.createDirectories(store.layout());
        Files.writeString(store.layout().resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        Path temp = store.layout().resolve(".index-" + ProcessHandle.current().pid());
        Files.writeString(temp, Json.write(index));
        Files.move(temp, store.layout().resolve("index.json"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        narrate("index.json: " + name + " -> " + manifest.digest());
    }

    static List<Map<String, Object>> index(Store store) {
        Path index = store.layout().resolve("index.json");
        if (!Files.exists(index)) return List.of();
        try {
            return ((List<?>) Json.object(Json.parse(Files.readString(index)), "index.json").get("manifests")).stream()
                    .map(m -> Json.object(m, "a manifest entry")).toList();
        } catch (IOException | IllegalArgumentException e) {
            throw new StageFailure(index + " cannot be read: " + e.getMessage());
        }
    }

    static List<String> names(Store store) {
        return index(store).stream().map(Image::refName).toList();
    }

    static String refName(Map<String, Object> entry) {
        Object annotations = entry.get("annotations");
        return annotations instanceof Map<?, ?> map ? (String) map.get(REF_NAME) : null;
    }
    // end::image[]

    static String checkName(String name) {
        if (!name.matches("[a-z0-9][a-z0-9._-]*(:[A-Za-z0-9_][A-Za-z0-9._-]*)?"))
            throw new StageFailure("--tag " + name + ": use lower-case letters, digits, '.', '_' and '-', and an optional :TAG, as in busybox:motd");
        return name;
    }
}
