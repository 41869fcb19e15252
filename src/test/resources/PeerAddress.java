import java.net.ServerSocket;
import java.net.Socket;

/**
 * Run by the network tests inside their "outside world" namespace: listens on a port, and
 * prints the address the first connection came from (and what it sent). Exits after one.
 */
class PeerAddress {
    public static void main(String[] args) throws Exception {
        try (ServerSocket server = new ServerSocket(Integer.parseInt(args[0]))) {
            server.setSoTimeout(60_000);
            System.out.println("listening");
            try (Socket peer = server.accept()) {
                System.out.println("peer " + peer.getInetAddress().getHostAddress());
                System.out.println("said " + new String(peer.getInputStream().readAllBytes()).strip());
            }
        }
    }
}
