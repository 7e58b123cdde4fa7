/*
 * xattr_srv.h - the master's extended attribute endpoints: EP_SETXATTR,
 * EP_GETXATTR, EP_LISTXATTR and EP_REMOVEXATTR of dfs_proto.h.
 *
 * Changes are ops (setxattr, removexattr of ns_xattr.h) submitted through
 * the oplog; reads use the namespace's read connections. Values travel
 * in base64. Every field is checked before anything is submitted.
 */
#ifndef MASTERD_XATTR_SRV_H
#define MASTERD_XATTR_SRV_H

#include <stddef.h>

#include "http_server.h"

/* Routes of the extended attribute API (arg: struct master). */
extern const struct http_route xattr_srv_routes[];
extern const size_t xattr_srv_nroutes;

#endif
