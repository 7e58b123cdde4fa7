/*
 * xattr_srv.c - extended attribute endpoints of the master (see
 * xattr_srv.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_srv.h"
#include "dfs_client.h"
#include "http_server.h"
#include "master.h"
#include "namespace.h"
#include "ns_xattr.h"
#include "oplog.h"
#include "proto.h"
#include "timeutil.h"
#include "wire.h"
#include "banned.h"

/* Largest request body: a 64 KiB value in base64 and the rest. */
#define XATTR_MAX_BODY (128 * 1024)

/* Answer a negative errno as its wire error. */
static void reply_errno(struct http_request *req, int r, const char *what)
{
	http_reply_error(req, wire_status_from_errno(r), "%s: %s", what,
			 strerror(-r));
}

/* The "ino" and "name" of a request: 0, -EINVAL or -ERANGE. */
static int get_target(const json_t *body, uint64_t *ino, const char **name)
{
	int r;

	if ((r = proto_get_u64(body, "ino", NS_MAX_ID, ino)) != 0 ||
	    (r = proto_get_str(body, "name", DFS_PATH_MAX, name)) != 0)
		return r;
	if (*ino == 0 || (*name)[0] == '\0')
		return -EINVAL;
	return strlen(*name) > NS_XATTR_NAME_MAX ? -ERANGE : 0;
}

/* Check a setxattr request and build its op (NULL with *err set). */
static json_t *setxattr_op(const json_t *body, int *err)
{
	struct timespec now = time_now_ts();
	const char *name, *value;
	uint64_t ino, flags = 0;
	void *raw = NULL;
	size_t len;
	int r;

	if ((r = get_target(body, &ino, &name)) != 0 ||
	    (r = proto_get_str(body, "value", NS_XATTR_SIZE_MAX * 2,
			       &value)) != 0 ||
	    (r = proto_opt_u64(body, "flags", 3, &flags)) != 0 ||
	    (r = dfs_xattr_decode(value, NS_XATTR_SIZE_MAX, &raw, &len)) != 0)
		goto out;
	if (flags == (NS_XATTR_CREATE | NS_XATTR_REPLACE)) {
		r = -EINVAL;
		goto out;
	}
	r = 0;
out:
	free(raw);
	*err = r;
	if (r != 0)
		return NULL;
	return json_pack("{s:s, s:I, s:s, s:s, s:I, s:o}", "op", "setxattr",
			 "ino", (json_int_t)ino, "name", name, "value", value,
			 "flags", (json_int_t)flags, "time",
			 proto_time_to_json(&now));
}

static void handle_setxattr(struct http_request *req, void *arg)
{
	struct master *m = arg;
	json_t *body, *op;
	int r;

	if (client_srv_defer_commit(req, m))
		return;
	if ((body = http_request_json(req)) == NULL)
		return;
	if ((op = setxattr_op(body, &r)) == NULL) {
		reply_errno(req, r, "invalid setxattr request");
		goto out;
	}
	if ((r = oplog_submit(m->oplog, op, NULL)) != 0)
		reply_errno(req, r, "setxattr");
	else
		http_reply_json(req, 200, json_object());
	json_decref(op);
out:
	json_decref(body);
}

static void handle_removexattr(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct timespec now = time_now_ts();
	json_t *body, *op;
	const char *name;
	uint64_t ino;
	int r;

	if (client_srv_defer_commit(req, m))
		return;
	if ((body = http_request_json(req)) == NULL)
		return;
	if ((r = get_target(body, &ino, &name)) != 0) {
		reply_errno(req, r, "invalid removexattr request");
		goto out;
	}
	op = json_pack("{s:s, s:I, s:s, s:o}", "op", "removexattr", "ino",
		       (json_int_t)ino, "name", name, "time",
		       proto_time_to_json(&now));
	if ((r = oplog_submit(m->oplog, op, NULL)) != 0)
		reply_errno(req, r, "removexattr");
	else
		http_reply_json(req, 200, json_object());
	json_decref(op);
out:
	json_decref(body);
}

static void handle_getxattr(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct ns_reader *rd = NULL;
	void *value = NULL;
	const char *name;
	json_t *body;
	char *text;
	uint64_t ino;
	size_t len;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if ((r = get_target(body, &ino, &name)) != 0) {
		reply_errno(req, r, "invalid getxattr request");
		goto out;
	}
	if ((rd = ns_reader_get(m->ns)) == NULL) {
		http_reply_error(req, DFS_ERR_IO,
				 "metadata database unavailable");
		goto out;
	}
	if ((r = ns_getxattr(rd, ino, name, &value, &len)) != 0) {
		reply_errno(req, r, "getxattr");
		goto out;
	}
	text = dfs_xattr_encode(value, len);
	http_reply_json(req, 200, json_pack("{s:s}", "value", text));
	free(text);
out:
	free(value);
	ns_reader_put(rd);
	json_decref(body);
}

/* ns_listxattr() callback: append a name to the JSON array. */
static int list_name(const char *name, void *arg)
{
	json_array_append_new(arg, json_string(name));
	return 0;
}

static void handle_listxattr(struct http_request *req, void *arg)
{
	struct master *m = arg;
	struct ns_reader *rd = NULL;
	json_t *body, *names = NULL;
	uint64_t ino;
	int r;

	if ((body = http_request_json(req)) == NULL)
		return;
	if (proto_get_u64(body, "ino", NS_MAX_ID, &ino) != 0 || ino == 0) {
		http_reply_error(req, DFS_ERR_INVAL, "invalid 'ino'");
		goto out;
	}
	if ((rd = ns_reader_get(m->ns)) == NULL) {
		http_reply_error(req, DFS_ERR_IO,
				 "metadata database unavailable");
		goto out;
	}
	names = json_array();
	if ((r = ns_listxattr(rd, ino, list_name, names)) != 0)
		reply_errno(req, r, "listxattr");
	else
		http_reply_json(req, 200, json_pack("{s:O}", "names", names));
out:
	json_decref(names);
	ns_reader_put(rd);
	json_decref(body);
}

const struct http_route xattr_srv_routes[] = {
	{ "POST", EP_SETXATTR, handle_setxattr, XATTR_MAX_BODY,
	  HTTP_ROUTE_QUICK },
	{ "POST", EP_GETXATTR, handle_getxattr, XATTR_MAX_BODY,
	  HTTP_ROUTE_QUICK },
	{ "POST", EP_LISTXATTR, handle_listxattr, XATTR_MAX_BODY,
	  HTTP_ROUTE_QUICK },
	{ "POST", EP_REMOVEXATTR, handle_removexattr, XATTR_MAX_BODY,
	  HTTP_ROUTE_QUICK },
};
const size_t xattr_srv_nroutes =
	sizeof(xattr_srv_routes) / sizeof(xattr_srv_routes[0]);
