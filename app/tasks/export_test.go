package tasks

// ScheduleTick is the tick exactly as HandleSchedule registers it with the scheduler: type,
// payload and options (queue included).
var ScheduleTick = scheduleTick

// MemPipe is the in-memory connection the embedded Redis client dials.
var MemPipe = memPipe

// BouncePoll is the poll task exactly as HandleBouncePoll registers it.
var BouncePoll = bouncePoll
