/** @type {import('next').NextConfig} */
const nextConfig = {
  // The cart runs against a local Solobase; nothing to lint or send anywhere at build time.
  eslint: { ignoreDuringBuilds: true },
}

export default nextConfig
