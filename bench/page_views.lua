-- wrk script: page views from new visitors landing from an ad (the costly case: every request
-- starts a session and claims its deep-link code), from the site's own origin.
local n = 0
function request()
  n = n + 1
  local body = string.format('{"url": "https://shop.example.ru/?utm_source=yandex&utm_medium=cpc&utm_campaign=spring_sale&yclid=%d", "referrer": "https://yandex.ru/"}', n)
  return wrk.format("POST", nil, { ["content-type"] = "text/plain", ["origin"] = "https://shop.example.ru" }, body)
end
