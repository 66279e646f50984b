// aedes (https://github.com/moscajs/aedes), a second real MQTT 3.1.1 broker for the tests, so the
// MQTT client code is not tuned to mosquitto alone. Started by test-support (src/aedes.rs):
//
//   node broker.mjs --port PORT --modules DIR [--max-lifetime SECS]
//
// DIR holds node_modules with aedes (scripts/aedes.sh install prints it). Listens on 127.0.0.1:PORT
// with aedes' in-memory persistence (sessions with clean start off and their queued QoS 1/2 messages
// live as long as the process), prints one line "listening 127.0.0.1:PORT" on stdout when ready, logs
// connections and errors on stderr, and exits on SIGTERM/SIGINT, when its stdin closes (the test
// process is gone) or after --max-lifetime seconds (default 1800), whichever comes first.
import net from 'node:net'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

function arg (name, fallback) {
  const i = process.argv.indexOf(name)
  if (i < 0 || i + 1 >= process.argv.length) {
    if (fallback !== undefined) return fallback
    console.error(`usage: node broker.mjs --port PORT --modules DIR [--max-lifetime SECS] (missing ${name})`)
    process.exit(2)
  }
  return process.argv[i + 1]
}

const port = Number(arg('--port'))
const modules = arg('--modules')
const lifetime = Number(arg('--max-lifetime', '1800'))
const entry = path.join(modules, 'node_modules', 'aedes', 'aedes.js')
const { Aedes } = await import(pathToFileURL(entry).href)

const broker = await Aedes.createBroker()
broker.on('client', (c) => console.error(`client connected ${c.id}`))
broker.on('clientDisconnect', (c) => console.error(`client disconnected ${c.id}`))
broker.on('subscribe', (subs, c) => console.error(`client subscribed ${c && c.id} ${subs.map((s) => s.topic).join(' ')}`))
broker.on('clientError', (c, e) => console.error(`client error ${c && c.id}: ${e.message}`))
broker.on('connectionError', (c, e) => console.error(`connection error ${c && c.id}: ${e.message}`))

const server = net.createServer(broker.handle)
let stopping = false
function stop (why) {
  if (stopping) return
  stopping = true
  console.error(`stopping: ${why}`)
  server.close()
  broker.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
process.stdin.on('end', () => stop('stdin closed'))
process.stdin.on('error', () => stop('stdin error'))
process.stdin.resume()
setTimeout(() => stop(`max lifetime ${lifetime} s`), lifetime * 1000).unref()
server.on('error', (e) => {
  console.error(`listen 127.0.0.1:${port}: ${e.message}`)
  process.exit(1)
})
server.listen(port, '127.0.0.1', () => {
  console.log(`listening 127.0.0.1:${port}`)
})
