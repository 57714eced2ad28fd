// Starts @vercel/cosmosdb-server for the tests: HTTPS (its self-signed certificate) on
// 127.0.0.1, on a port the OS picks, and prints "listening on port <n>" once it accepts.
//
// Not the package's CLI, for two reasons:
// - the CLI closes the connection after every response, so each request would pay a new
//   TLS handshake; keepAlive lets the SDK reuse its connections;
// - version 1.0.1 answers a point read of a missing document with HTTP 500 ("Cannot read
//   properties of undefined") where Cosmos DB answers 404; the read handler is wrapped to
//   answer 404 as Cosmos DB does, so the store's point reads follow the real protocol.
//
// Usage: node cosmos_server.js <directory of the @vercel/cosmosdb-server package>
"use strict";

const path = require("path");

const packageDir = process.argv[2];
if (!packageDir) {
  console.error("usage: node cosmos_server.js <path to @vercel/cosmosdb-server>");
  process.exit(2);
}

// Patched before the package's routes are loaded, since they capture the handler.
const readDocument = require(path.join(packageDir, "lib", "handler", "read-document"));
const partitionHeader = require(path.join(packageDir, "lib", "utils", "get-partition-from-header"));
const readExisting = readDocument.default;
readDocument.default = (account, req, res, params) => {
  const collection = account.database(params.dbId).collection(params.collId);
  if (collection.read()) {
    let key;
    try {
      key = partitionHeader.parsePartitionKey(partitionHeader.default(req), params.docId);
    } catch (err) {
      return readExisting(account, req, res, params); // let the server report the header
    }
    if (!collection.document(params.docId, key).read()) {
      res.statusCode = 404;
      return {
        code: "NotFound",
        message: "Entity with the specified id does not exist in the system.",
      };
    }
  }
  return readExisting(account, req, res, params);
};

const { createHttpsServer } = require(packageDir);

const server = createHttpsServer({ keepAlive: true });
server.listen(0, "127.0.0.1", () => {
  console.log(`listening on port ${server.address().port}`);
});
server.on("error", (err) => {
  console.error(err);
  process.exit(1);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  // Keep-alive connections would hold server.close() open: the data is in memory anyway.
  process.on(signal, () => process.exit(0));
}
