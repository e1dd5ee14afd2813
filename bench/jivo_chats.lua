-- wrk script: every request is a distinct finished Jivo chat (a new appeal, not a repeat),
-- built from events/jivo/bodies/chat_finished.json with a unique chat_id per thread and request.
local body = io.open("events/jivo/bodies/chat_finished.json"):read("*a")
local counter = 0
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function request()
  counter = counter + 1
  local chat = string.format('"chat_id": %d%07d,', tid or 0, counter)
  local b = body:gsub('"chat_id": %d+,', chat, 1)
  return wrk.format("POST", nil, { ["content-type"] = "application/json" }, b)
end
