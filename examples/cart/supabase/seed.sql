insert into public.products (name, description, price_cents, category) values
  ('Cast-iron pan', 'Seasoned 26 cm skillet', 3450, 'kitchen'),
  ('Chef''s knife', '20 cm carbon steel', 5900, 'kitchen'),
  ('Watering can', 'Galvanised, 5 litres', 2200, 'garden'),
  ('Seed sampler', 'Twelve heirloom vegetables', 1250, 'garden'),
  ('Field guide to birds', 'Paperback, 400 pages', 1899, 'books'),
  ('Enamel mug', 'Holds 350 ml', 900, 'general');
