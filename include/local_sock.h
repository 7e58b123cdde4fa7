/*
 * local_sock.h - the local read socket: how a client hands a chunk
 * server on its own machine a read token and gets the replica's two
 * files back as open descriptors (short-circuit local reads; server
 * side chunkd/local_srv.c, client side lib/client_local.c).
 *
 * The socket is a SOCK_SEQPACKET Unix socket in the abstract namespace,
 * named after the address the chunk server serves HTTP on, so it is
 * reachable exactly from the chunk server's own network namespace: the
 * clients that share its machine. One exchange per connection:
 *     request  "HANDLE VERSION TOKEN"   (TOKEN "-" when the cluster has
 *                                        no secret)
 *     reply    "0" with the data and metadata descriptors attached, or
 *              "-ERRNO" (ENOENT, ESTALE, EACCES, EINVAL) and none
 */
#ifndef DFS_LOCAL_SOCK_H
#define DFS_LOCAL_SOCK_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

/* Longest message either way. */
#define LOCAL_SOCK_MSG_MAX 512

/* Descriptors a reply carries: data, then metadata. */
#define LOCAL_SOCK_NFDS 2

/* The socket address of the chunk server serving HTTP on "addr". */
void local_sock_addr(const char *addr, struct sockaddr_un *sa,
		     socklen_t *len);

/* Send "msg" with nfds (0 or LOCAL_SOCK_NFDS) descriptors. 0 or -errno. */
int local_sock_send(int sock, const char *msg, const int *fds, int nfds);

/* Receive a message (NUL-terminated into buf of cap bytes) and the
 * descriptors it carries (into fds, *nfds of them; the caller closes
 * them). 0 or -errno. */
int local_sock_recv(int sock, char *buf, size_t cap, int *fds, int *nfds);

#endif
