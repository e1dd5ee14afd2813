-- wrk script: every request is a distinct finished Jivo chat (a new appeal, not a repeat),
-- built from events/jivo/bodies/chat_finished.json with a unique chat_id per thread and request,
-- and its own visitor (phone and e-mail): a load of one person writing 100,000 chats would
-- measure that person's index, not chats.
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
  local visitor = string.format('%d%08d', tid or 0, counter)
  b = b:gsub('"phone": "[^"]*"', '"phone": "+7 (9' .. visitor .. ')"', 1)
  b = b:gsub('"email": "[^"]*"', '"email": "v' .. visitor .. '@example.org"', 1)
  return wrk.format("POST", nil, { ["content-type"] = "application/json" }, b)
end
